// The tests, benchmarks and soak run the shipped demo configuration on ports the kernel picks.
// Moving the ports one after another once turned 4000 → 40013 and then, because "40013" starts
// with "4001", into 373393: a configuration the server rightly refused, which failed a CI run
// whenever the kernel happened to pick such a port.
import { describe, expect, it } from 'vitest';
import { demoConfigOn, demoConfigText } from '../../scripts/demo-config.mjs';

const ports = (text: string) => [...new Set(text.match(/localhost:\d+/g))].sort();

describe('the demo configuration on other ports', () => {
  it('a new port that starts with another shipped port is not moved again', () => {
    const text = demoConfigText({ as: 40013, api: 37339, demo: 40021 });
    expect(ports(text)).toEqual(['localhost:37339', 'localhost:40013', 'localhost:40021']);
    const config = demoConfigOn({ as: 40013, api: 37339, demo: 40021 });
    expect(config.api.url).toBe('http://localhost:37339');
    expect(config.authorizationServer.issuer).toBe('http://localhost:40013');
  });

  it('every role swapped with another: each lands where it was sent', () => {
    expect(demoConfigOn({ as: 4001, api: 4002, demo: 4000 }).api.url).toBe('http://localhost:4002');
    expect(demoConfigOn({ as: 4001, api: 4002, demo: 4000 }).authorizationServer.issuer).toBe('http://localhost:4001');
  });

  it('a role not given keeps its shipped port', () => {
    expect(ports(demoConfigText({ as: 5000, api: 5001 }))).toEqual(['localhost:4002', 'localhost:5000', 'localhost:5001']);
  });
});
