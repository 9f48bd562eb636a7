import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipIdentity } from '../../src/pipeline/stages/limits.js';

// One IPv6 host usually owns a whole /64: limits keyed by IP count per prefix, or a client
// could rotate through 2^64 addresses to dodge them.
describe('IP identities for rate limits', () => {
  it('keeps IPv4 addresses whole', () => {
    assert.equal(ipIdentity('203.0.113.7', 64), '203.0.113.7');
  });
  it('counts IPv6 per /64 by default', () => {
    assert.equal(ipIdentity('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64');
    assert.equal(ipIdentity('2001:db8:1:2::1', 64), '2001:db8:1:2::/64');
    assert.equal(ipIdentity('2001:db8:1:2:ffff::9', 64), ipIdentity('2001:db8:1:2::1', 64));
    assert.notEqual(ipIdentity('2001:db8:1:3::1', 64), ipIdentity('2001:db8:1:2::1', 64));
  });
  it('honours other prefixes', () => {
    assert.equal(ipIdentity('2001:db8:abcd:1234::1', 48), '2001:db8:abcd::/48');
    assert.equal(ipIdentity('2001:db8:abcd:1234::1', 56), '2001:db8:abcd:1200::/56');
    assert.equal(ipIdentity('::1', 128), '::1');
  });
});
