/**
 * What a grant hands to the token endpoint: who the token is for, with which scope, and what
 * happens to refresh tokens.
 *
 * @module
 */

export interface GrantResult {
  subject: string;
  scope: string;
  authTime?: number;
  /** The authorization code id the grant descends from (access tokens carry its reference, `gid`). */
  grantId?: string;
  /** `authorization_code`: start a refresh-token family tied to this code id (if the client may refresh). */
  startFamily?: { grantId: string };
  /** `refresh_token`: the rotated refresh token to return. */
  refreshToken?: string;
  /** RFC 8707: what the grant holds (kept with a new refresh-token family) and this token's `aud`. */
  resources?: { granted: string[]; audience: string[] };
  /** RFC 9470 `acr` and RFC 8176 `amr` of the sign-in the grant descends from. */
  acr?: string;
  amr?: string[];
  /** The code came from the authorization challenge endpoint: the response gets an `auth_session`. */
  challenge?: boolean;
}
