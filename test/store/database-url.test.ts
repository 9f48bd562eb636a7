import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { openStore, parseDatabaseUrl } from '../../src/store/open-store.js';

const FORMS =
  'sqlite:./relative/path.db, sqlite:/absolute/path.db, sqlite::memory:, postgres://… or postgresql://…';

describe('database URL', () => {
  it('resolves relative SQLite paths against the working directory', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:./data/portcullis.db', '/srv/app'), {
      dialect: 'sqlite',
      filename: '/srv/app/data/portcullis.db',
    });
    assert.deepEqual(parseDatabaseUrl('sqlite:data/p.db', '/srv/app'), {
      dialect: 'sqlite',
      filename: '/srv/app/data/p.db',
    });
  });

  it('keeps absolute SQLite paths and :memory:', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:/var/lib/p.db', '/srv'), {
      dialect: 'sqlite',
      filename: '/var/lib/p.db',
    });
    assert.deepEqual(parseDatabaseUrl('sqlite::memory:'), { dialect: 'sqlite', filename: ':memory:' });
  });

  it('passes postgres:// and postgresql:// through whole', () => {
    for (const url of ['postgres://u:p@db:5432/x?sslmode=require', 'postgresql://db/x', 'POSTGRES://db/x']) {
      assert.deepEqual(parseDatabaseUrl(url), { dialect: 'postgres', connectionString: url });
    }
  });

  it('rejects an unknown scheme naming it and the accepted forms, never the rest of the URL', () => {
    assert.throws(
      () => parseDatabaseUrl('mysql://root:hunter2@db/x'),
      (error: Error) => {
        assert.equal(error.message, `unsupported database URL scheme "mysql:"; use one of ${FORMS}`);
        assert.ok(!error.message.includes('hunter2'));
        return true;
      },
    );
  });

  it('rejects URLs without a scheme or a SQLite path', () => {
    assert.throws(() => parseDatabaseUrl('./data/p.db'), {
      message: `database URL has no scheme; use one of ${FORMS}`,
    });
    assert.throws(() => parseDatabaseUrl('sqlite:'), {
      message: `database URL "sqlite:" needs a file path; use one of ${FORMS}`,
    });
    assert.throws(() => parseDatabaseUrl('sqlite:///abs.db'), /"sqlite:\/\/…" is not supported/);
  });

  it('openStore fails fast on bad options, before any I/O', async () => {
    await assert.rejects(openStore({ url: 'redis://x' }), /unsupported database URL scheme "redis:"/);
    await assert.rejects(openStore({ url: '' }), { message: 'options.url must be a non-empty database URL' });
    for (const poolSize of [0, 1.5, 1001]) {
      await assert.rejects(openStore({ url: 'postgres://127.0.0.1:1/x', poolSize }), {
        message: 'options.poolSize must be an integer between 1 and 1000',
      });
    }
    for (const schema of ['', '1abc', 'a"; drop table x; --', 'a'.repeat(64)]) {
      await assert.rejects(openStore({ url: 'postgres://127.0.0.1:1/x', schema }), {
        message: 'options.schema must be 1-63 letters, digits or underscores, not starting with a digit',
      });
    }
  });
});

describe('migration list', () => {
  it('names are unique, zero-padded and already in the order Kysely will apply them', () => {
    const names = MIGRATIONS.map(([name]) => name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^\d{4}_[a-z0-9_]+$/);
    assert.deepEqual([...names].sort(), names);
    assert.equal(names[0], '0001_core');
  });
});
