import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CidrSet, compileCidrSet, networkOf, normalizeCidr, parseCidr } from '../../src/net/cidr.js';

describe('CIDR parsing and sets', () => {
  it('normalizes to one spelling per network', () => {
    assert.equal(normalizeCidr('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(normalizeCidr('192.0.2.7'), '192.0.2.7/32');
    assert.equal(normalizeCidr('2001:DB8:0:0::1/64'), '2001:db8::/64');
    assert.equal(normalizeCidr('::ffff:10.0.0.1'), '10.0.0.1/32', 'IPv4-mapped counts as IPv4');
    assert.equal(normalizeCidr('::ffff:10.9.0.1/104'), '10.0.0.0/8');
    assert.equal(normalizeCidr('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(normalizeCidr(' 2001:db8::1 '), '2001:db8::1/128');
  });

  it('refuses anything else, naming the entry', () => {
    for (const bad of [
      '',
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/8/8',
      '010.0.0.1',
      '10.0.0',
      '1.2.3.4.5',
      'example.com',
      '2001:db8::/129',
      'fe80::1%eth0',
      '::ffff:10.0.0.1/95',
      '10.0.0.0/ 8',
    ]) {
      assert.equal(parseCidr(bad), undefined, bad);
      assert.throws(() => normalizeCidr(bad), /not an IP address or CIDR/);
    }
  });

  it('networkOf widens an address to its network', () => {
    assert.equal(networkOf('203.0.113.77', 24), '203.0.113.0/24');
    assert.equal(networkOf('203.0.113.77', null), '203.0.113.77/32');
    assert.equal(networkOf('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::/64');
    assert.equal(networkOf('2001:db8::1', null), '2001:db8::1/128');
  });

  it('sets answer for normalized addresses of both families and never throw', () => {
    const set = new CidrSet(['10.0.0.0/8', '2001:db8::/32', '192.0.2.1']);
    assert.equal(set.has('10.200.3.4'), true);
    assert.equal(set.has('11.0.0.1'), false);
    assert.equal(set.has('2001:db8:ffff::1'), true);
    assert.equal(set.has('2001:db9::1'), false);
    assert.equal(set.has('192.0.2.1'), true);
    assert.equal(set.has('192.0.2.2'), false);
    for (const junk of ['', 'garbage', '::::', '10.0.0.256', 'a'.repeat(10_000)])
      assert.equal(set.has(junk), false);
    assert.equal(compileCidrSet([]), undefined);
    assert.equal(new CidrSet(['::/0']).has('192.0.2.1'), false, 'an IPv6 rule never covers IPv4 clients');
    assert.equal(new CidrSet(['0.0.0.0/0']).has('2001:db8::1'), false);
    assert.throws(() => new CidrSet(['nope']), /not an IP address or CIDR/);
  });

  it('the integer IPv4 matcher agrees with node:net BlockList (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, base, prefix) => {
        const network = networkOf(base, prefix);
        const reference = new BlockList();
        reference.addSubnet(network.split('/')[0] as string, prefix, 'ipv4');
        return new CidrSet([network]).has(ip) === reference.check(ip, 'ipv4');
      }),
      { numRuns: 2000 },
    );
  });

  it('an address is in its own network at every prefix (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, prefix) => {
        const network = networkOf(ip, prefix);
        return new CidrSet([network]).has(ip) && normalizeCidr(network) === network;
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), (raw, prefix) => {
        const cidr = parseCidr(raw);
        if (cidr?.family !== 6) return true; // mapped forms are IPv4, covered above
        const network = networkOf(cidr.address, prefix);
        return new CidrSet([network]).has(cidr.address);
      }),
    );
  });
});
