/**
 * Credentials in a Redis URL reach a real server intact: an ACL user whose password holds
 * commas and other URL-special characters (percent-encoded where the URL syntax needs it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisState } from '../../src/state/redis.js';
import { REDIS_URL, redisGate, uniqueName } from '../helpers/services.js';

const gate = await redisGate();

describe('Redis URL credentials', { skip: gate.skip }, () => {
  const user = `pcltest${randomBytes(4).toString('hex')}`;
  const password = `a,b,c:d@e/f ${randomBytes(4).toString('hex')}`;
  let admin: Redis;
  before(async () => {
    admin = new Redis(REDIS_URL);
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
  });
  after(async () => {
    await admin.call('ACL', 'DELUSER', user);
    await admin.quit();
  });

  it('a password with commas connects (one URL, not a list of nodes)', async () => {
    const target = new URL(REDIS_URL);
    target.username = user;
    target.password = password; // the setter percent-encodes what must be; commas stay literal
    const url = target.toString();
    assert.ok(url.includes(','), 'the URL keeps its commas');
    const state = await RedisState.connect({
      url,
      keyPrefix: `${uniqueName('cred')}:`,
      commandTimeoutMs: 2_000,
    });
    try {
      await state.set('k', 'v', 10_000);
      assert.equal(await state.get('k'), 'v');
      // Connected as that user, not by some fallback to the default user.
      const clients = (await admin.call('CLIENT', 'LIST')) as string;
      assert.match(clients, new RegExp(`\\buser=${user}\\b`));
    } finally {
      await state.close();
    }
  });
});
