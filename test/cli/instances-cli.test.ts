/**
 * `portcullis instances` without --url: what a local CLI can and cannot see. The remote
 * table and JSON, and the local read of Redis, are in test/e2e/instances.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/gateway.js';

describe('portcullis instances (local)', () => {
  it('with state in memory, says plainly that it cannot see any and how to ask a gateway', async () => {
    const result = await runCli(['instances'], { cwd: tempDir() });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error\[conflict\]: state is in memory \(no PORTCULLIS_REDIS_URL\)/);
    assert.match(result.stderr, /portcullis instances --url/);
    const json = await runCli(['instances', '--json'], { cwd: tempDir() });
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'conflict');
  });

  it('with Redis but no secret key here, refuses instead of creating a key', async () => {
    const dir = tempDir();
    // A closed port: the refusal must come before any connection attempt.
    const result = await runCli(['instances'], {
      cwd: dir,
      env: { PORTCULLIS_REDIS_URL: 'redis://127.0.0.1:1' },
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no secret key here/);
    assert.equal(existsSync(join(dir, 'data', 'secret.key')), false);
  });
});
