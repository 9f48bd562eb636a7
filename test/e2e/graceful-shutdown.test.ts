import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { startGateway } from '../helpers/gateway.js';

describe('graceful shutdown', () => {
  let upstream: ExampleUpstream;
  before(async () => {
    upstream = await startExampleUpstream();
  });
  after(async () => {
    await upstream?.close();
  });
  const document = () => ({
    routes: [{ id: 'all', path: '/*', methods: { '*': 'public' }, upstream: { url: upstream.url } }],
  });

  it('SIGTERM drains in-flight requests, refuses new connections and exits 0', async () => {
    const gw = await startGateway({ document: document() });
    const inFlight = Array.from({ length: 5 }, () =>
      request(`${gw.proxyUrl}/slow?ms=800`).then(async (res) => ({
        status: res.statusCode,
        body: await res.body.text(),
      })),
    );
    await new Promise((r) => setTimeout(r, 200));
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 150));
    // New connections are refused while draining.
    await assert.rejects(request(`${gw.proxyUrl}/hello`, { headersTimeout: 2000 }));
    const results = await Promise.all(inFlight);
    for (const r of results) assert.equal(r.status, 200, 'every in-flight request completed');
    assert.equal(await gw.exited, 0);
    assert.match(gw.output(), /"stopped"/);
  });

  it('bounds the drain by shutdown_timeout_ms', async () => {
    const gw = await startGateway({ document: document(), env: { PORTCULLIS_SHUTDOWN_TIMEOUT_MS: '300' } });
    const slow = request(`${gw.proxyUrl}/slow?ms=20000`).then(
      (res) => res.body.text(),
      (error: unknown) => error,
    );
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    assert.ok(performance.now() - started < 10_000, 'did not wait for the 20 s request');
    assert.ok((await slow) instanceof Error, 'the over-long request was cut');
  });

  it('a second signal exits at once', async () => {
    const gw = await startGateway({ document: document(), env: { PORTCULLIS_SHUTDOWN_TIMEOUT_MS: '30000' } });
    const slow = request(`${gw.proxyUrl}/slow?ms=20000`).catch((error: unknown) => error);
    await new Promise((r) => setTimeout(r, 200));
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 1);
    await slow;
  });
});
