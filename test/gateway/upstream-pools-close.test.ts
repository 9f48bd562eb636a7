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

  /** Whether `promise` settles before a generous bound (a hang fails; no speed is asserted). */
  const settles = (promise: Promise<unknown>, boundMs: number) =>
    Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), boundMs).unref()),
    ]);

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
    assert.ok(await settles(pools.close(200), 30_000), 'close() ends although the exchange never does');
    assert.notEqual(await pending, 'answered', 'the orphaned exchange was cut');
  });

  it('closes an idle pool without waiting for the grace', async () => {
    const pools = new UpstreamPools({ connections: 2 });
    pools.get(origin);
    // A grace far longer than the bound: settling within it means close() did not wait.
    assert.ok(await settles(pools.close(600_000), 30_000));
  });
});
