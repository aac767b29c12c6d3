/**
 * Reading a Web body stream with a size cap: the authorization server's request bodies (forms,
 * registration JSON) and the client's fetched documents (metadata, JWKS) are all read through
 * this one loop, so a peer can never make either side buffer more than it allows.
 *
 * @module
 */

/**
 * The whole stream as bytes, or `undefined` as soon as it passes `maxBytes` (the rest is then
 * cancelled, never read). A failure to read is thrown as the stream raised it; the caller says
 * what it means for its protocol.
 */
export async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const result = await reader.read();
    if (result.done) break;
    total += result.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(result.value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
