/**
 * The audit log: every configuration change made through an audited store (what the CLI uses)
 * is recorded in the same transaction, with redacted snapshots; bookkeeping is not; a failed
 * change leaves no entry. And through the real CLI: actor and source, and no secret anywhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { ConflictError } from '../../src/store/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { AuditRecord, Store } from '../../src/store/types.js';
import { auditedStore, redact } from '../../src/telemetry/audit.js';
import { runCli, tempDir } from '../helpers/gateway.js';
import { newApiKey } from '../helpers/records.js';

describe('audited store', () => {
  const clock = new ManualClock();
  let raw: Store;
  let store: Store;
  before(async () => {
    raw = await openStore({ url: 'sqlite::memory:', clock });
    await raw.migrate();
    store = auditedStore(raw, { actor: 'alice', source: 'cli' }, clock);
  });
  after(() => raw.close());

  const entries = async (): Promise<AuditRecord[]> => (await raw.auditLog.list({ limit: 1000 })).reverse();

  it('records each change with actor, source, action, target and redacted before/after', async () => {
    await store.clients.insert({ id: 'acme', name: 'Acme', metadata: {} });
    clock.advance(1000);
    await store.clients.update('acme', { name: 'Acme Inc' });
    clock.advance(1);
    await store.apiKeys.insert(newApiKey('key_1', 'acme'), {
      hash: 'f'.repeat(64),
      displayPrefix: 'pcl_live_ab',
    });
    const all = await entries();
    assert.deepEqual(
      all.map((e) => [e.actor, e.source, e.action, e.targetType, e.targetId]),
      [
        ['alice', 'cli', 'clients.insert', 'clients', 'acme'],
        ['alice', 'cli', 'clients.update', 'clients', 'acme'],
        ['alice', 'cli', 'apiKeys.insert', 'apiKeys', 'key_1'],
      ],
    );
    const update = all[1] as AuditRecord;
    assert.equal((update.before as { name: string }).name, 'Acme');
    assert.equal((update.after as { name: string }).name, 'Acme Inc');
    assert.equal(update.at, clock.now() - 1);
    assert.doesNotMatch(JSON.stringify(all), /ffffffff/, 'no hash in the audit log');
  });

  it('a declarative write is one transaction with one entry per change; a failed change leaves none', async () => {
    clock.advance(1000);
    const since = clock.now();
    const before = (await entries()).length;
    await store.write(async (repos) => {
      await repos.grants.upsert({ clientId: 'acme', routeId: 'orders', methods: ['GET'] });
      await repos.blocks.upsert({
        id: 'blk_1',
        kind: 'ip',
        value: '192.0.2.0/24',
        reason: 'x',
        source: 'manual',
        expiresAt: null,
      });
    });
    const added = await raw.auditLog.list({ since });
    assert.deepEqual(added.map((e) => [e.action, e.targetId]).sort(), [
      ['blocks.upsert', 'blk_1'],
      ['grants.upsert', 'acme/orders'],
    ]);
    // Re-adding a block updates the existing entry: the audit names it and shows what it was.
    clock.advance(1000);
    await store.blocks.upsert({
      id: 'blk_2',
      kind: 'ip',
      value: '192.0.2.0/24',
      reason: 'y',
      source: 'manual',
      expiresAt: null,
    });
    const [readd] = await raw.auditLog.list({ since: clock.now() });
    assert.deepEqual(
      [readd?.targetId, (readd?.before as { reason: string } | undefined)?.reason],
      ['blk_1', 'x'],
    );
    await store.bindings.claim({
      id: 'bnd_a',
      keyId: 'key_1',
      slot: 0,
      cidr: '192.0.2.9/32',
      source: 'first_use',
      createdAt: 0,
      lastSeenAt: 0,
    });
    clock.advance(1000);
    await store.bindings.removeAll('key_1');
    const [unbind] = await raw.auditLog.list({ since: clock.now() });
    assert.deepEqual(
      ((unbind?.before ?? []) as Array<{ cidr: string }>).map((b) => b.cidr),
      ['192.0.2.9/32'],
      'an unbind shows what was bound',
    );
    await assert.rejects(store.clients.insert({ id: 'acme', name: 'dup', metadata: {} }), ConflictError);
    await assert.rejects(
      store.write(async (repos) => {
        await repos.clients.insert({ id: 'other', name: 'Other', metadata: {} });
        throw new Error('abort the file');
      }),
      /abort the file/,
    );
    assert.equal((await entries()).length, before + 4, 'nothing recorded for changes that did not happen');
    assert.equal(await raw.clients.get('other'), undefined);
  });

  it('bookkeeping and reads are not audited', async () => {
    const before = (await entries()).length;
    await store.apiKeys.recordUsage([{ keyId: 'key_1', lastUsedAt: clock.now() }]);
    await store.clients.list();
    await store.bindings.claim({
      id: 'bnd_1',
      keyId: 'key_1',
      slot: 0,
      cidr: '192.0.2.1/32',
      source: 'first_use',
      createdAt: 0,
      lastSeenAt: 0,
    });
    assert.equal((await entries()).length, before);
  });

  it('redact hides every secret-bearing field at any depth', () => {
    assert.deepEqual(
      redact({ a: 1, hash: 'h', nested: [{ secret: 's', ok: 'y' }], spec: { secret_encrypted: 'e' } }),
      {
        a: 1,
        hash: '[redacted]',
        nested: [{ secret: '[redacted]', ok: 'y' }],
        spec: { secret_encrypted: '[redacted]' },
      },
    );
  });
});

describe('audit log through the CLI', () => {
  it('records who changed what from the CLI, never a secret', async () => {
    const dir = tempDir();
    const cli = (args: string[]) => runCli(args, { cwd: dir });
    assert.equal((await cli(['clients', 'add', '--id', 'app', '--name', 'App'])).code, 0);
    const created = await cli(['keys', 'create', '--client', 'app', '--json']);
    const key = JSON.parse(created.stdout) as { id: string; key: string };
    assert.equal((await cli(['keys', 'revoke', key.id, '--reason', 'leaked'])).code, 0);
    const listed = await cli(['audit', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const log = JSON.parse(listed.stdout) as AuditRecord[];
    assert.deepEqual(log.map((e) => e.action).reverse(), [
      'clients.insert',
      'apiKeys.insert',
      'apiKeys.update',
    ]);
    assert.ok(log.every((e) => e.source === 'cli' && e.actor.length > 0));
    const revoke = log[0] as AuditRecord;
    assert.deepEqual(
      [(revoke.before as { status: string }).status, (revoke.after as { status: string }).status],
      ['active', 'revoked'],
    );
    assert.ok(!listed.stdout.includes(key.key), 'the key never reaches the audit log');
    const filtered = await cli(['audit', 'list', '--target', `apiKeys:${key.id}`, '--json']);
    assert.equal((JSON.parse(filtered.stdout) as unknown[]).length, 2);
  });
});
