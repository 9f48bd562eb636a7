/**
 * Admin users in the audit log: every change to a user is recorded, and no password hash ever
 * reaches an entry. Session bookkeeping is not audited (the HTTP layer records logins).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/admin/auth/passwords.js';
import { ManualClock } from '../../src/core/clock.js';
import { ConflictError } from '../../src/store/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { AuditRecord, Store } from '../../src/store/types.js';
import { auditedStore, redact } from '../../src/telemetry/audit.js';

describe('audit of admin users and sessions', () => {
  const clock = new ManualClock();
  let raw: Store;
  let store: Store;
  let firstHash: string;
  let secondHash: string;
  before(async () => {
    raw = await openStore({ url: 'sqlite::memory:', clock });
    await raw.migrate();
    store = auditedStore(raw, { actor: 'user:admin', source: '192.0.2.10' }, clock);
    [firstHash, secondHash] = await Promise.all([
      hashPassword('first password 123'),
      hashPassword('second password 456'),
    ]);
  });
  after(() => raw.close());

  const entries = async (): Promise<AuditRecord[]> => (await raw.auditLog.list({ limit: 1000 })).reverse();
  /** Every piece of a hash that could identify it: the whole, the salt and the key. */
  const assertNoHash = (text: string, hash: string) => {
    const [, , , , salt, key] = hash.split('$');
    for (const part of [hash, salt, key]) assert.ok(!text.includes(part as string), `leaked ${part}`);
    assert.doesNotMatch(text, /scrypt\$/);
  };

  it('records insert, update and remove of a user, with the hash redacted everywhere', async () => {
    await store.adminUsers.insert({
      id: 'usr_bob',
      username: 'Bob',
      passwordHash: firstHash,
      role: 'viewer',
    });
    clock.advance(1000);
    await store.adminUsers.update('usr_bob', { role: 'admin' });
    clock.advance(1000);
    await store.adminUsers.update('usr_bob', { passwordHash: secondHash });
    clock.advance(1000);
    await store.adminUsers.update('usr_bob', { disabled: true });
    clock.advance(1000);
    await store.adminUsers.remove('usr_bob');
    const all = await entries();
    assert.deepEqual(
      all.map((e) => [e.actor, e.source, e.action, e.targetType, e.targetId]),
      [
        ['user:admin', '192.0.2.10', 'adminUsers.insert', 'adminUsers', 'usr_bob'],
        ['user:admin', '192.0.2.10', 'adminUsers.update', 'adminUsers', 'usr_bob'],
        ['user:admin', '192.0.2.10', 'adminUsers.update', 'adminUsers', 'usr_bob'],
        ['user:admin', '192.0.2.10', 'adminUsers.update', 'adminUsers', 'usr_bob'],
        ['user:admin', '192.0.2.10', 'adminUsers.remove', 'adminUsers', 'usr_bob'],
      ],
    );
    const [insert, promote, rehash, disable, remove] = all as [
      AuditRecord,
      AuditRecord,
      AuditRecord,
      AuditRecord,
      AuditRecord,
    ];
    type Snapshot = {
      username: string;
      role: string;
      disabled: boolean;
      passwordHash: string;
      passwordChangedAt: number;
    };
    assert.equal(insert.before, null);
    assert.deepEqual(
      [(insert.after as Snapshot).username, (insert.after as Snapshot).passwordHash],
      ['bob', '[redacted]'],
    );
    assert.deepEqual(
      [(promote.before as Snapshot).role, (promote.after as Snapshot).role],
      ['viewer', 'admin'],
    );
    // A password change shows as a new passwordChangedAt, never as the hashes themselves.
    assert.deepEqual(
      [(rehash.before as Snapshot).passwordHash, (rehash.after as Snapshot).passwordHash],
      ['[redacted]', '[redacted]'],
    );
    assert.ok((rehash.after as Snapshot).passwordChangedAt > (rehash.before as Snapshot).passwordChangedAt);
    assert.deepEqual(
      [(disable.before as Snapshot).disabled, (disable.after as Snapshot).disabled],
      [false, true],
    );
    assert.equal((remove.before as Snapshot).username, 'bob');
    const text = JSON.stringify(all);
    assertNoHash(text, firstHash);
    assertNoHash(text, secondHash);
  });

  it('a refused change (duplicate username) leaves no entry; user changes inside write() are audited too', async () => {
    await store.adminUsers.insert({
      id: 'usr_carol',
      username: 'carol',
      passwordHash: firstHash,
      role: 'admin',
    });
    const count = (await entries()).length;
    await assert.rejects(
      store.adminUsers.insert({
        id: 'usr_carol2',
        username: 'CAROL',
        passwordHash: secondHash,
        role: 'admin',
      }),
      ConflictError,
    );
    assert.equal((await entries()).length, count);
    await store.write(async (repos) => {
      await repos.adminUsers.update('usr_carol', { passwordHash: secondHash });
    });
    // Entries of one millisecond have no defined order: look the update up by what it is.
    const updates = await raw.auditLog.list({ action: 'adminUsers.update', targetId: 'usr_carol' });
    assert.equal(updates.length, 1);
    assertNoHash(JSON.stringify(await entries()), secondHash);
  });

  it('session bookkeeping is not audited, directly or inside write()', async () => {
    await store.adminUsers.insert({
      id: 'usr_dave',
      username: 'dave',
      passwordHash: firstHash,
      role: 'viewer',
    });
    const count = (await entries()).length;
    const session = (id: string, tokenHash: string) => ({
      id,
      userId: 'usr_dave',
      tokenHash,
      expiresAt: clock.now() + 60_000,
      ip: '192.0.2.10',
      userAgent: 'test',
    });
    await store.adminSessions.insert(session('ses_1', 'h1'));
    await store.adminSessions.touch('ses_1', clock.now() + 1);
    await store.adminSessions.revoke('ses_1');
    await store.write(async (repos) => {
      await repos.adminSessions.insert(session('ses_2', 'h2'));
      await repos.adminSessions.touch('ses_2', clock.now() + 1);
      await repos.adminSessions.revokeForUser('usr_dave');
    });
    await store.adminSessions.pruneExpired(clock.now());
    await store.adminUsers.list();
    await store.adminUsers.getByUsername('dave');
    await store.adminUsers.count();
    assert.equal((await entries()).length, count);
  });
});

describe('redact', () => {
  it('hides password and token hashes under any of their names', () => {
    assert.deepEqual(
      redact({ passwordHash: 'a', password_hash: 'b', tokenHash: 'c', token_hash: 'd', ok: 1 }),
      {
        passwordHash: '[redacted]',
        password_hash: '[redacted]',
        tokenHash: '[redacted]',
        token_hash: '[redacted]',
        ok: 1,
      },
    );
  });

  it('hides an scrypt encoding whatever field holds it, at any depth', () => {
    const hash = 'scrypt$32768$8$1$c2FsdA$a2V5';
    assert.deepEqual(redact({ note: hash, nested: [{ x: hash }], plain: 'scrypt is a KDF' }), {
      note: '[redacted]',
      nested: [{ x: '[redacted]' }],
      plain: 'scrypt is a KDF',
    });
    assert.equal(redact(hash), '[redacted]');
  });

  it('cuts what is nested deeper than any record instead of passing it through unredacted', () => {
    let deep: Record<string, unknown> = { hash: 'leak' };
    for (let i = 0; i < 12; i++) deep = { inner: deep };
    const text = JSON.stringify(redact(deep));
    assert.ok(!text.includes('leak'), text);
    assert.match(text, /\[truncated\]/);
  });
});
