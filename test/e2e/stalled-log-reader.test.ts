/**
 * A log reader that stops reading (a stalled pipe or collector) must not freeze the gateway:
 * it keeps answering (pino's default synchronous stdout would block the event loop on the full
 * pipe, and every request with it). Known limit: the process can only finish exiting once the
 * reader takes the output again (a log write stuck in the kernel holds a libuv worker thread,
 * which exit waits for).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { BIN, baseEnv, runCli, tempDir } from '../helpers/gateway.js';

describe('a stalled log reader', () => {
  it('does not freeze the gateway; shutdown completes once the reader reads again', async () => {
    const upstream: ExampleUpstream = await startExampleUpstream();
    const dir = tempDir();
    const env = { ...baseEnv(), PORTCULLIS_ACCESS_LOG_SAMPLE: '1' };
    writeFileSync(
      join(dir, 'routes.yaml'),
      stringify({
        routes: [{ id: 'pub', path: '/*', methods: { '*': 'public' }, upstream: { url: upstream.url } }],
      }),
    );
    assert.equal((await runCli(['apply', '-f', 'routes.yaml'], { cwd: dir, env })).code, 0);
    const child = spawn(process.execPath, [BIN, 'start'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        const onData = (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.includes('"portcullis started"'));
          if (line) {
            child.stdout.off('data', onData);
            // From here on nobody reads the pipe: it fills and the gateway's writes would block.
            child.stdout.pause();
            resolve(Number((JSON.parse(line) as { proxy: string }).proxy.split(':').pop()));
          }
        };
        child.stdout.on('data', onData);
        setTimeout(() => reject(new Error(`no start line: ${out}`)), 15_000).unref();
      });
      // ~2,000 access-log lines: far more than a pipe buffer holds.
      for (let batch = 0; batch < 40; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            const res = await request(`http://127.0.0.1:${port}/hello?${'q'.repeat(200)}`);
            await res.body.text();
            assert.equal(res.statusCode, 200);
          }),
        );
      }
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      child.stdout.resume();
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r('still running'), 10_000)),
      ]);
      assert.equal(code, 0, `exit code ${String(code)}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
