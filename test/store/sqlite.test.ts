import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import { runStoreContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// A nested, not-yet-existing folder: opening must create it.
const fileUrl = `sqlite:${join(dir, 'nested', 'data', 'portcullis.db')}`;

runStoreContract('SQLite file', ({ clock }) => openStore({ url: fileUrl, clock }));
runStoreContract('SQLite :memory:', ({ clock }) => openStore({ url: 'sqlite::memory:', clock }), {
  sharesDatabase: false,
});

describe('SQLite store specifics', () => {
  it('creates the parent folder (mode 0700) and sets the connection pragmas', async () => {
    const path = join(dir, 'fresh', 'x.db');
    const store = await openStore({ url: `sqlite:${path}` });
    try {
      assert.ok(existsSync(path));
      assert.equal(statSync(join(dir, 'fresh')).mode & 0o777, 0o700);
      const pragma = async (name: string) => {
        const { rows } = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(store.db);
        return Object.values(rows[0] ?? {})[0];
      };
      assert.equal(await pragma('journal_mode'), 'wal');
      assert.equal(await pragma('busy_timeout'), 5000);
      assert.equal(await pragma('foreign_keys'), 1);
      assert.equal(await pragma('synchronous'), 1, 'NORMAL');
      assert.equal(store.dialect, 'sqlite');
      assert.deepEqual(store.capabilities, { multiWriter: false, transactionalDdl: true });
    } finally {
      await store.close();
    }
  });

  it('keeps data across reopen of the same file', async () => {
    const url = `sqlite:${join(dir, 'reopen.db')}`;
    const clock = new ManualClock();
    const first = await openStore({ url, clock });
    await first.migrate();
    await first.routes.insert({
      id: 'kept',
      host: '*',
      path: '/kept',
      methods: { GET: ['public'] },
      upstream: { url: 'http://127.0.0.1:1' },
    });
    await first.close();
    const second = await openStore({ url, clock });
    try {
      assert.deepEqual(await second.migrate(), { applied: [] });
      assert.equal((await second.routes.get('kept'))?.spec.path, '/kept');
      assert.equal(await second.configVersion(), 1);
    } finally {
      await second.close();
    }
  });

  it('a second opener waits for a held write lock instead of failing', async () => {
    const url = `sqlite:${join(dir, 'locks.db')}`;
    const [a, b] = [await openStore({ url }), await openStore({ url })];
    try {
      await a.migrate();
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow = a.write(async (repos) => {
        await repos.meta.set('holder', 'a');
        await held;
      });
      const waiting = b.meta.set('holder', 'b');
      setTimeout(release, 50);
      await Promise.all([slow, waiting]);
      assert.equal(await a.meta.get('holder'), 'b');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects the schema option', async () => {
    await assert.rejects(openStore({ url: 'sqlite::memory:', schema: 'x' }), {
      message: 'options.schema applies to PostgreSQL only',
    });
  });

  it('a file that is not a database fails with its path in the message', async () => {
    const path = join(dir, 'not-a-db.db');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      path,
      'this is not sqlite, just text that is long enough to have a header page.'.repeat(20),
    );
    await assert.rejects(openStore({ url: `sqlite:${path}` }), (error: Error) => {
      assert.match(error.message, /^cannot open SQLite database /);
      assert.ok(error.message.includes(path));
      return true;
    });
  });
});
