/**
 * UpstreamPools.close() at shutdown is bounded: an exchange still open after the grace (an
 * orphan: the proxy has drained by then) is destroyed instead of holding the process open.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UpstreamPools } from '../../src/gateway/upstreams.js';

describe('UpstreamPools.close', () => {
  let silent: Server;
  let origin: string;
  before(async () => {
    // Reads requests and never answers.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('destroys a pool whose exchange never ends, after the grace', async () => {
    const pools = new UpstreamPools({ connections: 2 });
    const pending = pools
      .get(origin)
      .request({ path: '/', method: 'GET' })
      .then(
        () => 'answered',
        (error: Error) => error.name,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await pools.close(200);
    const took = performance.now() - started;
    assert.ok(took >= 150 && took < 2_000, `closed after ${Math.round(took)} ms`);
    assert.notEqual(await pending, 'answered', 'the orphaned exchange was cut');
  });

  it('closes an idle pool at once', async () => {
    const pools = new UpstreamPools({ connections: 2 });
    pools.get(origin);
    const started = performance.now();
    await pools.close(5_000);
    assert.ok(performance.now() - started < 1_000);
  });
});
