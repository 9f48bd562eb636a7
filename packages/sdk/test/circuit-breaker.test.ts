import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CircuitBreaker, createTransport, PortcullisError } from '../src/index.js';
import { closedPort, json, problem, startServer, type TestServer } from './helpers/http-server.js';

class ManualClock {
  ms = 1_000_000;
  now = () => this.ms;
  advance(ms: number) {
    this.ms += ms;
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof PortcullisError);
    return error.code;
  }
}

describe('circuit breaker through the transport (real server)', () => {
  let server: TestServer;
  let healthy = false;
  let delayMs = 0;
  before(async () => {
    server = await startServer(async (_req, res) => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (healthy) json(res, 200, { ok: true });
      else problem(res, 500, { title: 'boom', code: 'internal_error' });
    });
  });
  after(() => server.close());

  function transport(clock: ManualClock) {
    return createTransport({
      baseUrl: server.url,
      retries: 0,
      breaker: { failureThreshold: 3, resetMs: 1000 },
      now: clock.now,
    });
  }

  test('opens after N consecutive failures and then fails fast without sending', async () => {
    healthy = false;
    const clock = new ManualClock();
    const t = transport(clock);
    for (let i = 0; i < 3; i += 1)
      assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'internal_error');
    assert.equal(t.breakerState, 'open');
    const sent = server.received.length;
    clock.advance(400);
    try {
      await t.request({ method: 'GET', path: '/' });
      assert.fail('expected circuit_open');
    } catch (error) {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.code, 'circuit_open');
      assert.equal(error.status, undefined);
      assert.equal(error.retryAfterMs, 600);
    }
    assert.equal(server.received.length, sent, 'nothing was sent while open');
  });

  test('half-open lets one trial through; its success closes the circuit', async () => {
    healthy = false;
    const clock = new ManualClock();
    const t = transport(clock);
    for (let i = 0; i < 3; i += 1) await codeOf(t.request({ method: 'GET', path: '/' }));
    clock.advance(1000);
    assert.equal(t.breakerState, 'half_open');
    healthy = true;
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'ok');
    assert.equal(t.breakerState, 'closed');
  });

  test('a failed trial opens the circuit again for resetMs', async () => {
    healthy = false;
    const clock = new ManualClock();
    const t = transport(clock);
    for (let i = 0; i < 3; i += 1) await codeOf(t.request({ method: 'GET', path: '/' }));
    clock.advance(1000);
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'internal_error');
    assert.equal(t.breakerState, 'open');
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'circuit_open');
    clock.advance(999);
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'circuit_open');
    clock.advance(1);
    healthy = true;
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'ok');
  });

  test('while the trial is in flight, other calls fail fast', async () => {
    healthy = false;
    const clock = new ManualClock();
    const t = transport(clock);
    for (let i = 0; i < 3; i += 1) await codeOf(t.request({ method: 'GET', path: '/' }));
    clock.advance(1000);
    healthy = true;
    delayMs = 100;
    try {
      const trial = codeOf(t.request({ method: 'GET', path: '/' }));
      const other = codeOf(t.request({ method: 'GET', path: '/' }));
      assert.deepEqual(await Promise.all([trial, other]), ['ok', 'circuit_open']);
    } finally {
      delayMs = 0;
    }
    assert.equal(t.breakerState, 'closed');
  });

  test('4xx answers and successes reset the count: only consecutive failures open it', async () => {
    const clock = new ManualClock();
    const t = transport(clock);
    healthy = false;
    await codeOf(t.request({ method: 'GET', path: '/' }));
    await codeOf(t.request({ method: 'GET', path: '/' }));
    healthy = true;
    await codeOf(t.request({ method: 'GET', path: '/' }));
    healthy = false;
    await codeOf(t.request({ method: 'GET', path: '/' }));
    await codeOf(t.request({ method: 'GET', path: '/' }));
    assert.equal(t.breakerState, 'closed');
  });

  test('network errors count as failures; retries stop at an open circuit', async () => {
    const port = await closedPort();
    const clock = new ManualClock();
    const t = createTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      retries: 5,
      breaker: { failureThreshold: 2, resetMs: 1000 },
      now: clock.now,
      sleep: async () => {},
    });
    assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'circuit_open');
    assert.equal(t.breakerState, 'open');
  });

  test('breaker: false turns it off', async () => {
    healthy = false;
    const t = createTransport({ baseUrl: server.url, retries: 0, breaker: false });
    for (let i = 0; i < 10; i += 1)
      assert.equal(await codeOf(t.request({ method: 'GET', path: '/' })), 'internal_error');
    assert.equal(t.breakerState, 'closed');
  });
});

describe('CircuitBreaker', () => {
  test('a call admitted before the circuit opened does not extend the open period', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetMs: 100 }, clock.now);
    assert.ok(breaker.admit().ok);
    assert.ok(breaker.admit().ok);
    breaker.failure();
    assert.equal(breaker.state, 'open');
    clock.advance(60);
    breaker.failure(); // the second, late call
    clock.advance(40);
    assert.equal(breaker.state, 'half_open');
  });

  test('release() frees the half-open trial slot without judging the server', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetMs: 0 }, clock.now);
    breaker.admit();
    breaker.failure();
    assert.ok(breaker.admit().ok);
    assert.equal(breaker.admit().ok, false);
    breaker.release();
    assert.ok(breaker.admit().ok);
  });
});
