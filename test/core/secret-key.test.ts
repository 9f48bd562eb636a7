import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  checkKeyFingerprint,
  KEY_FINGERPRINT_META,
  keyFingerprint,
  loadSecretKey,
} from '../../src/core/secret-key.js';
import { openStore } from '../../src/store/open-store.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-key-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`, 'data');

function recorder() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (msg: string) => warnings.push(msg) } };
}

/** Asserts a rejection whose message names the variable and `reason` but never the value. */
async function rejectsWithoutValue(value: string, reason: RegExp) {
  await assert.rejects(
    loadSecretKey({ value, dataDir: freshDir(), logger: recorder().logger }),
    (error: Error) => {
      assert.match(error.message, /PORTCULLIS_SECRET_KEY/);
      assert.match(error.message, reason);
      assert.ok(!error.message.includes(value.trim()), `message leaks the value: ${error.message}`);
      return true;
    },
  );
}

describe('loadSecretKey from a configured value', () => {
  it('accepts 64+ hex digits', async () => {
    const key = randomBytes(32);
    const loaded = await loadSecretKey({
      value: key.toString('hex'),
      dataDir: freshDir(),
      logger: recorder().logger,
    });
    assert.deepEqual(loaded, { key, generated: false });
    const long = randomBytes(48);
    assert.deepEqual(
      (
        await loadSecretKey({
          value: ` ${long.toString('hex').toUpperCase()}\n`,
          dataDir: freshDir(),
          logger: recorder().logger,
        })
      ).key,
      long,
    );
  });

  it('accepts base64 and base64url of 32+ bytes', async () => {
    const key = Buffer.from('fb'.repeat(8) + 'ff'.repeat(24), 'hex'); // has + and / in base64
    for (const value of [
      key.toString('base64'),
      key.toString('base64url'),
      key.toString('base64').replace(/=+$/, ''),
    ]) {
      const loaded = await loadSecretKey({ value, dataDir: freshDir(), logger: recorder().logger });
      assert.deepEqual(loaded.key, key, value);
    }
  });

  it('refuses keys that are too short, naming the reason but not the value', async () => {
    await rejectsWithoutValue('deadbeefcafe0123', /too short: 16 hex digits, at least 64/);
    await rejectsWithoutValue(
      randomBytes(20).toString('base64'),
      /too short: it decodes to 20 bytes, at least 32/,
    );
    await rejectsWithoutValue('a'.repeat(65), /odd number of digits/);
  });

  it('refuses garbage and empty values without echoing them', async () => {
    await rejectsWithoutValue(
      'my secret passphrase, 100% private!',
      /neither hex \(64\+ digits\) nor base64/,
    );
    await rejectsWithoutValue(`${randomBytes(40).toString('base64')}@`, /neither hex/);
    await assert.rejects(
      loadSecretKey({ value: '  ', dataDir: freshDir(), logger: recorder().logger }),
      /PORTCULLIS_SECRET_KEY is empty/,
    );
  });

  it('names where the value came from', async () => {
    await assert.rejects(
      loadSecretKey({ value: 'abc', source: '.env', dataDir: freshDir(), logger: recorder().logger }),
      /^Error: PORTCULLIS_SECRET_KEY \(from \.env\) /,
    );
  });

  it('never touches the data folder when a value is given', async () => {
    const dataDir = freshDir();
    await loadSecretKey({ value: randomBytes(32).toString('hex'), dataDir, logger: recorder().logger });
    assert.throws(() => statSync(dataDir), { code: 'ENOENT' });
  });
});

describe('loadSecretKey from the data folder', () => {
  it('generates 32 random bytes into secret.key (0600, folder 0700) and warns once', async () => {
    const dataDir = freshDir();
    const { warnings, logger } = recorder();
    const loaded = await loadSecretKey({ dataDir, logger });
    const path = join(dataDir, 'secret.key');
    assert.equal(loaded.generated, true);
    assert.equal(loaded.path, path);
    assert.equal(loaded.key.length, 32);
    assert.equal(readFileSync(path, 'utf8'), `${loaded.key.toString('hex')}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]?.includes(path));
    assert.match(warnings[0] ?? '', /same PORTCULLIS_SECRET_KEY/);
    assert.ok(!warnings[0]?.includes(loaded.key.toString('hex')));
    assert.deepEqual(readdirSync(dataDir), ['secret.key'], 'no temp files left behind');
  });

  it('reuses the file on the next start, silently', async () => {
    const dataDir = freshDir();
    const first = await loadSecretKey({ dataDir, logger: recorder().logger });
    const { warnings, logger } = recorder();
    const second = await loadSecretKey({ dataDir, logger });
    assert.deepEqual(second, { key: first.key, generated: false, path: first.path });
    assert.deepEqual(warnings, []);
  });

  it('concurrent first starts agree on one key, generated by exactly one', async () => {
    const dataDir = freshDir();
    const { warnings, logger } = recorder();
    const results = await Promise.all(Array.from({ length: 6 }, () => loadSecretKey({ dataDir, logger })));
    const keys = new Set(results.map((r) => r.key.toString('hex')));
    assert.equal(keys.size, 1);
    assert.equal(results.filter((r) => r.generated).length, 1);
    assert.equal(warnings.length, 1);
    assert.equal(readFileSync(join(dataDir, 'secret.key'), 'utf8').trim(), [...keys][0]);
    assert.deepEqual(readdirSync(dataDir), ['secret.key']);
  });

  it('refuses a key file readable by group or others', async () => {
    const dataDir = freshDir();
    const { key, path } = await loadSecretKey({ dataDir, logger: recorder().logger });
    chmodSync(path as string, 0o644);
    await assert.rejects(loadSecretKey({ dataDir, logger: recorder().logger }), (error: Error) => {
      assert.match(error.message, /mode 0644 gives group\/other access/);
      assert.ok(error.message.includes(`chmod 600 ${path}`));
      assert.ok(!error.message.includes(key.toString('hex')));
      return true;
    });
    chmodSync(path as string, 0o640);
    await assert.rejects(loadSecretKey({ dataDir, logger: recorder().logger }), /mode 0640/);
  });

  it('refuses a key file that holds no valid key, without echoing it', async () => {
    const dataDir = freshDir();
    await loadSecretKey({ dataDir, logger: recorder().logger });
    const path = join(dataDir, 'secret.key');
    writeFileSync(path, 'short-secret-value\n', { mode: 0o600 });
    await assert.rejects(loadSecretKey({ dataDir, logger: recorder().logger }), (error: Error) => {
      assert.ok(error.message.startsWith(`${path} does not hold a valid secret key`));
      assert.ok(!error.message.includes('short-secret-value'));
      return true;
    });
  });
});

describe('key fingerprint', () => {
  it('is 16 hex characters, stable per key, different across keys', () => {
    const key = Buffer.alloc(32, 7);
    assert.match(keyFingerprint(key), /^[0-9a-f]{16}$/);
    assert.equal(keyFingerprint(key), keyFingerprint(Buffer.from(key)));
    assert.notEqual(keyFingerprint(key), keyFingerprint(Buffer.alloc(32, 8)));
  });

  it('is recorded on first use and a different key is refused later', async () => {
    const store = await openStore({ url: 'sqlite::memory:' });
    try {
      await store.migrate();
      const key = randomBytes(32);
      await checkKeyFingerprint(store, key);
      assert.equal(await store.meta.get(KEY_FINGERPRINT_META), keyFingerprint(key));
      await checkKeyFingerprint(store, Buffer.from(key));
      const wrong = randomBytes(32);
      await assert.rejects(checkKeyFingerprint(store, wrong), (error: Error) => {
        assert.match(
          error.message,
          /^PORTCULLIS_SECRET_KEY does not match the key this database was initialised with/,
        );
        assert.ok(error.message.includes(keyFingerprint(key)));
        assert.ok(
          !error.message.includes(wrong.toString('hex')) && !error.message.includes(key.toString('hex')),
        );
        return true;
      });
      assert.equal(
        await store.meta.get(KEY_FINGERPRINT_META),
        keyFingerprint(key),
        'the record is not overwritten',
      );
    } finally {
      await store.close();
    }
  });
});
