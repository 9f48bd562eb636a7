/**
 * The first admin user: created once on an empty database, with the configured password or a
 * random one; never twice, even when two instances start together on one database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureInitialAdmin } from '../../../src/admin/auth/bootstrap.js';
import { verifyPassword } from '../../../src/admin/auth/passwords.js';
import { ManualClock } from '../../../src/core/clock.js';
import { SpecError } from '../../../src/core/spec-error.js';
import { openStore } from '../../../src/store/open-store.js';
import type { AdminUserRepository, Store } from '../../../src/store/types.js';

/** The repository with some methods replaced (its own use private fields, so no prototype tricks). */
function overriding(repo: AdminUserRepository, overrides: Partial<AdminUserRepository>): AdminUserRepository {
  return {
    list: () => repo.list(),
    get: (id) => repo.get(id),
    getByUsername: (username) => repo.getByUsername(username),
    count: () => repo.count(),
    insert: (user) => repo.insert(user),
    update: (id, patch) => repo.update(id, patch),
    remove: (id) => repo.remove(id),
    ...overrides,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bootstrap-'));
const opened: Store[] = [];
let files = 0;

async function freshStore(url = `sqlite:${join(dir, `db-${++files}.db`)}`): Promise<Store> {
  const store = await openStore({ url, clock: new ManualClock() });
  opened.push(store);
  await store.migrate();
  return store;
}

describe('ensureInitialAdmin', () => {
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new ManualClock();

  it('creates admin with a random 24-character password when none is configured', async () => {
    const store = await freshStore();
    const result = await ensureInitialAdmin(store, { clock });
    assert.equal(result.created, true);
    if (!result.created) return;
    assert.equal(result.username, 'admin');
    assert.equal(result.generated, true);
    assert.match(result.password, /^[0-9A-Za-z]{24}$/);
    const [user, ...others] = await store.adminUsers.list();
    assert.equal(others.length, 0);
    assert.deepEqual([user?.username, user?.role, user?.disabled], ['admin', 'admin', false]);
    assert.match(user?.passwordHash ?? '', /^scrypt\$/);
    assert.ok(!user?.passwordHash.includes(result.password));
    assert.equal(await verifyPassword(result.password, user?.passwordHash ?? ''), true);
  });

  it('random passwords differ between installations', async () => {
    const [a, b] = await Promise.all([
      freshStore().then((s) => ensureInitialAdmin(s, { clock })),
      freshStore().then((s) => ensureInitialAdmin(s, { clock })),
    ]);
    assert.ok(a.created && b.created);
    if (a.created && b.created) assert.notEqual(a.password, b.password);
  });

  it('uses the configured password', async () => {
    const store = await freshStore();
    const password = 'configured password ✓';
    assert.deepEqual(await ensureInitialAdmin(store, { password, clock }), {
      created: true,
      username: 'admin',
      password,
      generated: false,
    });
    const user = await store.adminUsers.getByUsername('admin');
    assert.equal(await verifyPassword(password, user?.passwordHash ?? ''), true);
  });

  it('is idempotent: a second start changes nothing, whatever password is configured then', async () => {
    const store = await freshStore();
    const first = await ensureInitialAdmin(store, { clock });
    const hash = (await store.adminUsers.getByUsername('admin'))?.passwordHash;
    assert.deepEqual(await ensureInitialAdmin(store, { clock }), { created: false });
    assert.deepEqual(await ensureInitialAdmin(store, { password: 'another long password', clock }), {
      created: false,
    });
    assert.equal(await store.adminUsers.count(), 1);
    assert.equal((await store.adminUsers.getByUsername('admin'))?.passwordHash, hash);
    assert.ok(first.created);
  });

  it('does nothing once any admin user exists, even when it is not called admin', async () => {
    const store = await freshStore();
    await store.adminUsers.insert({
      id: 'usr_ops',
      username: 'ops',
      passwordHash: 'scrypt$x',
      role: 'viewer',
    });
    assert.deepEqual(await ensureInitialAdmin(store, { clock }), { created: false });
    assert.equal(await store.adminUsers.getByUsername('admin'), undefined);
  });

  it('refuses a configured password that breaks the policy, naming the setting, creating nothing', async () => {
    const store = await freshStore();
    await assert.rejects(ensureInitialAdmin(store, { password: 'too short', clock }), (error: unknown) => {
      assert.ok(error instanceof SpecError);
      assert.equal(error.message, 'admin_password: must be at least 12 characters (got 9)');
      return true;
    });
    assert.equal(await store.adminUsers.count(), 0);
  });

  it('two instances starting together on one database create exactly one admin', async () => {
    const url = `sqlite:${join(dir, 'shared.db')}`;
    const one = await freshStore(url);
    const two = await freshStore(url);
    const results = await Promise.all([
      ensureInitialAdmin(one, { clock }),
      ensureInitialAdmin(two, { clock }),
      ensureInitialAdmin(one, { clock }),
    ]);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(await one.adminUsers.count(), 1);
    const winner = results.find((r) => r.created);
    const user = await two.adminUsers.getByUsername('admin');
    assert.ok(winner?.created && (await verifyPassword(winner.password, user?.passwordHash ?? '')));
  });

  it('losing the race after counting no user (a ConflictError on insert) reports created: false', async () => {
    const store = await freshStore();
    const won = await ensureInitialAdmin(store, { clock });
    // An instance that counted before the winner inserted: it sees none, then conflicts.
    const stale = overriding(store.adminUsers, { count: async () => 0 });
    assert.deepEqual(await ensureInitialAdmin({ adminUsers: stale }, { clock }), { created: false });
    assert.equal(await store.adminUsers.count(), 1);
    assert.ok(won.created);
  });

  it('other store failures are not mistaken for a lost race', async () => {
    const store = await freshStore();
    const failing = overriding(store.adminUsers, { insert: () => Promise.reject(new Error('disk full')) });
    await assert.rejects(ensureInitialAdmin({ adminUsers: failing }, { clock }), /disk full/);
  });
});
