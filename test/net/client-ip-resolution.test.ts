import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClientIpResolver } from '../../src/net/client-ip.js';

const from = (headers: Record<string, string | string[]>) => ({ headers });

describe('client IP resolution (PRODUCT.md §8)', () => {
  const resolve = createClientIpResolver(['10.0.0.0/8', '127.0.0.1/32'], 'x-forwarded-for');

  test('an untrusted peer is the client, whatever it claims', () => {
    assert.equal(resolve('203.0.113.9', from({ 'x-forwarded-for': '1.2.3.4' })), '203.0.113.9');
  });
  test('a trusted peer: the rightmost untrusted X-Forwarded-For entry', () => {
    assert.equal(
      resolve('10.0.0.1', from({ 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.0.0.2' })),
      '198.51.100.7',
    );
  });
  test('several X-Forwarded-For lines are one list', () => {
    assert.equal(
      resolve('10.0.0.1', from({ 'x-forwarded-for': ['6.6.6.6', '198.51.100.7'] })),
      '198.51.100.7',
    );
  });
  test('garbage stops the walk at the last trusted hop and never throws', () => {
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': 'not-an-ip, 10.0.0.3' })), '10.0.0.3');
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': 'x'.repeat(100_000) })), '10.0.0.1');
  });
  test('all hops trusted: the leftmost', () => {
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': '10.1.1.1, 10.0.0.2' })), '10.1.1.1');
  });
  test('ports and IPv4-mapped IPv6 are normalized', () => {
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': '198.51.100.7:4711' })), '198.51.100.7');
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': '[2001:DB8::1]:80' })), '2001:db8::1');
    assert.equal(resolve('10.0.0.1', from({ 'x-forwarded-for': '::ffff:198.51.100.7' })), '198.51.100.7');
  });
  test('a single-value header when configured', () => {
    const realIp = createClientIpResolver(['127.0.0.1/32'], 'x-real-ip');
    assert.equal(
      realIp('127.0.0.1', from({ 'x-real-ip': '198.51.100.7', 'x-forwarded-for': '6.6.6.6' })),
      '198.51.100.7',
    );
    assert.equal(realIp('127.0.0.1', from({ 'x-real-ip': 'bogus' })), '127.0.0.1');
  });
  test('no trusted proxies: the headers are never read', () => {
    const none = createClientIpResolver([], 'x-forwarded-for');
    const source = {
      get headers(): Record<string, string> {
        throw new Error('must not be read');
      },
    };
    assert.equal(none('203.0.113.9', source), '203.0.113.9');
  });
});
