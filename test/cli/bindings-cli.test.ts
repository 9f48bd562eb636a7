import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import type { BindingRecord } from '../../src/store/types.js';
import { runCli, tempDir } from '../helpers/gateway.js';
import { newApiKey } from '../helpers/records.js';

/** More than one page of the API's largest (1000), so the CLI must follow `nextCursor`. */
const RECORDED = 1001;

describe('portcullis bindings list (local mode)', () => {
  const dir = tempDir();
  const cli = (args: string[]) => runCli(args, { cwd: dir });
  const now = Date.now();
  let expected: BindingRecord[];
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    // The first command creates the data folder, the secret key and the database.
    const empty = await cli(['bindings', 'list']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '(none)\n');
    const store = await openStore({ url: `sqlite:${join(dir, 'data', 'portcullis.db')}` });
    try {
      await store.clients.insert({ id: 'cli-app', name: 'CLI app', metadata: {} });
      for (const [id, bindingMode] of [
        ['key_cli_all', 'all'],
        ['key_cli_one', 'single'],
      ] as const)
        await store.apiKeys.insert(newApiKey(id, 'cli-app', { bindingMode }), {
          hash: `hash_${id}`,
          displayPrefix: 'pcl_live_x',
        });
      // An `all` key records every address it is used from, all in one millisecond here.
      const recorded = Array.from({ length: RECORDED }, (_, i) => ({
        id: `bnd_cli_${String(i).padStart(4, '0')}`,
        key_id: 'key_cli_all',
        slot: null,
        cidr: `10.${i >> 8}.${i & 255}.1/32`,
        source: 'first_use' as const,
        created_at: now,
        last_seen_at: now,
      }));
      for (let i = 0; i < recorded.length; i += 500)
        await store.db
          .insertInto('key_bindings')
          .values(recorded.slice(i, i + 500))
          .execute();
      await store.bindings.claim({
        id: 'bnd_cli_one',
        keyId: 'key_cli_one',
        slot: 0,
        cidr: '192.0.2.1/32',
        source: 'first_use',
        createdAt: now,
        lastSeenAt: now,
      });
      expected = await store.bindings.list();
    } finally {
      await store.close();
    }
  });

  it('lists every binding once, following pages', async () => {
    const listed = await cli(['bindings', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ id: string; key: string; address: string }>;
    assert.equal(rows.length, RECORDED + 1);
    assert.deepEqual(
      rows.map((r) => r.id),
      expected.map((b) => b.id),
    );
    assert.equal(rows.at(-1)?.key, 'key_cli_one');
  });

  it('lists one key’s bindings as a table', async () => {
    const listed = await cli(['bindings', 'list', '--key', 'key_cli_one']);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trimEnd().split('\n');
    assert.match(lines[0] as string, /^KEY\s+ADDRESS\s+SLOT\s+SOURCE\s+CREATEDAT\s+LASTSEENAT$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1] as string, /^key_cli_one\s+192\.0\.2\.1\/32\s+0\s+first_use\s/);
  });
});
