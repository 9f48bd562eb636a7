import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { pino } from 'pino';
import {
  type Alert,
  createWebhookSender,
  type DeliveryRecord,
  parseRetryAfter,
  signWebhookBody,
  verifyWebhookSignature,
  type WebhookSenderOptions,
} from '../../src/alerts/webhook.js';
import { ManualClock } from '../../src/core/clock.js';

const SECRET = 'whsec_test_0123456789abcdef';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

/** A real HTTP receiver on 127.0.0.1:0; `reply` decides the answer to the nth request (0-based). */
async function startReceiver(
  reply: (n: number, req: Received) => Reply | Promise<Reply> = () => ({ status: 200 }),
): Promise<Receiver> {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const entry: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const n = received.push(entry) - 1;
      const answer = await reply(n, entry);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  receivers.push(receiver);
  return receiver;
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function harness(overrides: Partial<WebhookSenderOptions> & { url: string; secret?: string }) {
  const records: DeliveryRecord[] = [];
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  );
  const { url, secret, ...rest } = overrides;
  const sender = createWebhookSender({
    target: { url, secret, format: 'json' },
    log: {
      record: async (r) => {
        records.push(r);
      },
    },
    logger,
    baseDelayMs: 5,
    ...rest,
  });
  return { sender, records, lines };
}

let alertCount = 0;
function alert(extra: Partial<Alert> = {}): Alert {
  alertCount++;
  return {
    kind: 'intercepts',
    id: `alr_test${alertCount}`,
    at: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    summary: `Key key_abc reached 10 intercepts in 60 s (${alertCount})`,
    details: { key: 'key_abc', count: 10, windowSeconds: 60, reasons: ['ip_denied'] },
    ...extra,
  };
}

/** Resolves once `ms` passes, or rejects after `limitMs` if `promise` has not settled (generous bound). */
async function within<T>(promise: Promise<T>, limitMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe('webhook delivery', () => {
  it('delivers on the first 2xx with the exact body, headers and a verifiable signature', async () => {
    const receiver = await startReceiver();
    const clock = new ManualClock(Date.UTC(2026, 0, 2, 3, 5, 0));
    const { sender, records } = harness({ url: receiver.url, secret: SECRET, clock });
    const a = alert();
    const record = await sender.deliverNow(a);

    assert.equal(receiver.received.length, 1);
    const got = receiver.received[0]!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/hook');
    assert.equal(
      got.body,
      JSON.stringify({
        kind: 'intercepts',
        id: a.id,
        at: '2026-01-02T03:04:05.678Z',
        summary: a.summary,
        details: a.details,
      }),
    );
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['user-agent'], 'portcullis-alerts');
    assert.equal(got.headers['x-portcullis-alert-id'], a.id);

    const signature = got.headers['x-portcullis-signature'];
    assert.equal(typeof signature, 'string');
    assert.ok(verifyWebhookSignature(SECRET, signature, got.body, clock.now()));
    assert.ok(verifyWebhookSignature(SECRET, signature, Buffer.from(got.body), clock.now()));
    const t = Math.floor(clock.now() / 1000);
    const independent = createHmac('sha256', SECRET).update(`${t}.${got.body}`).digest('hex');
    assert.equal(signature, `t=${t},v1=${independent}`);

    assert.deepEqual(record, {
      id: record.id,
      alertId: a.id,
      kind: 'intercepts',
      url: receiver.url,
      status: 'delivered',
      attempts: 1,
      lastStatus: 200,
      lastError: null,
      createdAt: clock.now(),
      finishedAt: clock.now(),
    });
    assert.match(record.id, /^dlv_[0-9A-Za-z]{16}$/);
    assert.deepEqual(records, [record]);
    assert.equal(sender.pending, 0);
  });

  it('sends no signature header without a secret, but always the alert id', async () => {
    const receiver = await startReceiver();
    const { sender } = harness({ url: receiver.url });
    const a = alert();
    assert.equal((await sender.deliverNow(a)).status, 'delivered');
    assert.equal(receiver.received[0]!.headers['x-portcullis-signature'], undefined);
    assert.equal(receiver.received[0]!.headers['x-portcullis-alert-id'], a.id);
  });

  it('retries 5xx and delivers on the third attempt with the same body and alert id', async () => {
    const receiver = await startReceiver((n) => ({ status: n < 2 ? 500 : 200 }));
    const { sender } = harness({ url: receiver.url, secret: SECRET });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'delivered');
    assert.equal(record.attempts, 3);
    assert.equal(record.lastStatus, 200);
    assert.equal(record.lastError, null);
    assert.equal(receiver.received.length, 3);
    const bodies = new Set(receiver.received.map((r) => r.body));
    const ids = new Set(receiver.received.map((r) => r.headers['x-portcullis-alert-id']));
    assert.equal(bodies.size, 1);
    assert.equal(ids.size, 1);
    for (const r of receiver.received) {
      assert.ok(verifyWebhookSignature(SECRET, r.headers['x-portcullis-signature'], r.body, Date.now()));
    }
  });

  it('fails at once on a 4xx other than 429', async () => {
    const receiver = await startReceiver(() => ({ status: 400, body: 'bad request' }));
    const { sender, records } = harness({ url: receiver.url });
    const record = await sender.deliverNow(alert());
    assert.equal(record.status, 'failed');
    assert.equal(record.attempts, 1);
    assert.equal(record.lastStatus, 400);
    assert.match(record.lastError ?? '', /400/);
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(records, [record]);
  });

  it('fails after maxAttempts when the receiver is down', async () => {
    const port = await closedPort();
    const { sender, records, lines } = harness({ url: `http://127.0.0.1:${port}/hook`, maxAttempts: 3 });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'failed');
    assert.equal(record.attempts, 3);
    assert.equal(record.lastStatus, null);
    assert.match(record.lastError ?? '', /ECONNREFUSED/);
    assert.deepEqual(records, [record]);
    assert.ok(lines.some((l) => l.includes('alert webhook delivery failed')));
  });

  it('gives each attempt its own timeout against a receiver that never answers', async () => {
    const receiver = await startReceiver(() => 'hang');
    const { sender } = harness({ url: receiver.url, timeoutMs: 150, maxAttempts: 2 });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'failed');
    assert.equal(record.attempts, 2);
    assert.equal(record.lastStatus, null);
    assert.match(record.lastError ?? '', /timed out after 150 ms/);
    assert.equal(receiver.received.length, 2);
  });

  it('times out a receiver that answers 200 but never finishes the body, and counts it delivered', async () => {
    const receiver = await startReceiver(() => ({
      status: 200,
      headers: { 'content-length': '100' },
      body: '',
    }));
    const { sender } = harness({ url: receiver.url, timeoutMs: 150 });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'delivered');
    assert.equal(record.attempts, 1);
  });

  it('retries 429 and follows Retry-After instead of the backoff', async () => {
    // With random() pinned to 1 the backoff would wait 20 s; Retry-After: 0 says retry now.
    const receiver = await startReceiver((n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 204, body: '' },
    );
    const { sender } = harness({ url: receiver.url, baseDelayMs: 20_000, random: () => 1 });
    const record = await within(sender.deliverNow(alert()), 8_000);
    assert.equal(record.status, 'delivered');
    assert.equal(record.attempts, 2);
    assert.equal(record.lastStatus, 204);
  });

  it('retries 429 without Retry-After using the backoff', async () => {
    const receiver = await startReceiver((n) => ({ status: n === 0 ? 429 : 200 }));
    const { sender } = harness({ url: receiver.url });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'delivered');
    assert.equal(record.attempts, 2);
  });

  it('reads only delta-seconds Retry-After, capped at 60 s', () => {
    assert.equal(parseRetryAfter('0'), 0);
    assert.equal(parseRetryAfter('2'), 2_000);
    assert.equal(parseRetryAfter(' 7 '), 7_000);
    assert.equal(parseRetryAfter('3600'), 60_000);
    assert.equal(parseRetryAfter(['5']), 5_000);
    assert.equal(parseRetryAfter(undefined), null);
    assert.equal(parseRetryAfter(''), null);
    assert.equal(parseRetryAfter('-1'), null);
    assert.equal(parseRetryAfter('1.5'), null);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT'), null);
    assert.equal(parseRetryAfter('99999999999999999999'), null);
  });

  it('sends a Slack incoming-webhook payload with escaped text', async () => {
    const receiver = await startReceiver();
    const records: DeliveryRecord[] = [];
    const slack = createWebhookSender({
      target: { url: receiver.url, secret: SECRET, format: 'slack' },
      log: { record: async (r) => void records.push(r) },
      logger: pino({ level: 'silent' }),
    });
    const a = alert({
      summary: 'Key <!channel> & friends hit 10 intercepts',
      details: { key: 'key_abc', path: '/admin/<script>', count: 10 },
    });
    const record = await slack.deliverNow(a);
    assert.equal(record.status, 'delivered');
    const got = receiver.received[0]!;
    assert.ok(verifyWebhookSignature(SECRET, got.headers['x-portcullis-signature'], got.body, Date.now()));
    const payload = JSON.parse(got.body) as {
      text: string;
      blocks: {
        type: string;
        text?: { type: string; text: string };
        fields?: unknown[];
        elements?: unknown[];
      }[];
    };
    assert.equal(payload.text, 'Key &lt;!channel&gt; &amp; friends hit 10 intercepts');
    assert.deepEqual(payload.blocks[0], { type: 'section', text: { type: 'mrkdwn', text: payload.text } });
    assert.deepEqual(payload.blocks[1], {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*key*\nkey_abc' },
        { type: 'mrkdwn', text: '*path*\n/admin/&lt;script&gt;' },
        { type: 'mrkdwn', text: '*count*\n10' },
      ],
    });
    assert.deepEqual(payload.blocks[2], {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `intercepts · ${a.id} · 2026-01-02T03:04:05.678Z` }],
    });
    assert.equal(payload.blocks.length, 3);
  });

  it('keeps Slack blocks within limits: at most 10 fields, no fields block without details', async () => {
    const receiver = await startReceiver();
    const slack = createWebhookSender({
      target: { url: receiver.url, format: 'slack' },
      log: { record: async () => {} },
      logger: pino({ level: 'silent' }),
    });
    const many = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, 'x'.repeat(5000)]));
    await slack.deliverNow(alert({ details: many }));
    await slack.deliverNow(alert({ details: {} }));
    const first = JSON.parse(receiver.received[0]!.body) as { blocks: { fields?: { text: string }[] }[] };
    const fields = first.blocks[1]!.fields!;
    assert.equal(fields.length, 10);
    assert.equal(fields[9]!.text, '_6 more not shown_');
    for (const f of fields) assert.ok(f.text.length <= 2000);
    const second = JSON.parse(receiver.received[1]!.body) as { blocks: { type: string; fields?: unknown }[] };
    assert.deepEqual(
      second.blocks.map((b) => b.type),
      ['section', 'context'],
    );
  });

  it('sends URL userinfo as Basic credentials and keeps it out of the record and the logs', async () => {
    const receiver = await startReceiver((n) => ({ status: n === 0 ? 503 : 200 }));
    const withUser = receiver.url.replace('http://', 'http://alerts:pa55w0rd-xyz@') + '?team=ops#frag';
    const { sender, records, lines } = harness({ url: withUser, secret: SECRET });
    const record = await within(sender.deliverNow(alert()), 10_000);
    assert.equal(record.status, 'delivered');
    assert.equal(record.url, `${receiver.url}?team=ops`);
    assert.equal(
      receiver.received[0]!.headers.authorization,
      `Basic ${Buffer.from('alerts:pa55w0rd-xyz').toString('base64')}`,
    );
    assert.equal(receiver.received[0]!.url, '/hook?team=ops');
    const everything = JSON.stringify(records) + lines.join('');
    assert.ok(lines.length > 0);
    for (const secret of ['pa55w0rd-xyz', SECRET, Buffer.from('alerts:pa55w0rd-xyz').toString('base64')]) {
      assert.ok(!everything.includes(secret), `leaked ${secret}`);
    }
  });

  it('never puts the signing secret in a log line or a record, even on failure', async () => {
    const port = await closedPort();
    const { sender, records, lines } = harness({
      url: `http://127.0.0.1:${port}/hook`,
      secret: SECRET,
      maxAttempts: 2,
    });
    await sender.deliverNow(alert());
    const receiver = await startReceiver(() => ({ status: 400 }));
    const second = harness({ url: receiver.url, secret: SECRET });
    await second.sender.deliverNow(alert());
    const everything = JSON.stringify([records, second.records]) + lines.join('') + second.lines.join('');
    assert.ok(!everything.includes(SECRET));
  });
});

describe('webhook sender queue', () => {
  it('send() queues without waiting and drain() waits for the delivery and its record', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const receiver = await startReceiver(async () => {
      await gate;
      return { status: 200 };
    });
    const { sender, records } = harness({ url: receiver.url });
    const a = alert();
    const { send } = sender; // handed around unbound, as callers do
    assert.equal(send(a), undefined);
    assert.equal(sender.pending, 1);
    let drained: boolean | undefined;
    const draining = sender.drain().then((d) => {
      drained = d;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(drained, undefined, 'drain resolved while a delivery was in flight');
    assert.equal(records.length, 0);
    release();
    await within(draining, 10_000);
    assert.equal(drained, true);
    assert.equal(sender.pending, 0);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.alertId, a.id);
    assert.equal(records[0]!.status, 'delivered');
  });

  it('drain() resolves at once when idle and false when its timeout runs out first', async () => {
    const receiver = await startReceiver(() => 'hang');
    const { sender, lines } = harness({ url: receiver.url, timeoutMs: 30_000 });
    assert.equal(await sender.drain(), true);
    sender.send(alert());
    assert.equal(await within(sender.drain(100), 10_000), false);
    assert.equal(sender.pending, 1);
    assert.ok(lines.some((l) => l.includes('drain timed out')));
    await assert.rejects(sender.drain(-1), /drain timeoutMs must be a non-negative number/);
  });

  it('drops alerts beyond maxPending and records them as failed with "queue full"', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const receiver = await startReceiver(async () => {
      await gate;
      return { status: 200 };
    });
    const { sender, records, lines } = harness({ url: receiver.url, maxPending: 3, concurrency: 1 });
    const alerts = Array.from({ length: 6 }, () => alert());
    for (const a of alerts) sender.send(a);
    assert.equal(sender.pending, 3);
    await new Promise((r) => setImmediate(r));
    const dropped = records.filter((r) => r.lastError === 'queue full');
    assert.deepEqual(
      dropped.map((r) => [r.alertId, r.status, r.attempts, r.lastStatus]),
      alerts.slice(3).map((a) => [a.id, 'failed', 0, null]),
    );
    assert.equal(lines.filter((l) => l.includes('queue full')).length, 3);
    release();
    assert.equal(await within(sender.drain(), 10_000), true);
    const delivered = records.filter((r) => r.status === 'delivered').map((r) => r.alertId);
    assert.deepEqual(
      delivered,
      alerts.slice(0, 3).map((a) => a.id),
      'queued alerts are delivered in order',
    );
    assert.equal(receiver.received.length, 3);
  });

  it('keeps at most `concurrency` deliveries in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const receiver = await startReceiver(async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { status: 200 };
    });
    const { sender, records } = harness({ url: receiver.url, concurrency: 2 });
    for (let i = 0; i < 8; i++) sender.send(alert());
    assert.equal(await within(sender.drain(), 10_000), true);
    assert.equal(records.length, 8);
    assert.ok(peak <= 2, `peak ${peak}`);
  });

  it('survives a delivery log that rejects or throws, and warns', async () => {
    const receiver = await startReceiver();
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    for (const record of [
      async () => {
        throw new Error('database is locked');
      },
      () => {
        throw new Error('sync failure');
      },
    ]) {
      const sender = createWebhookSender({
        target: { url: receiver.url, format: 'json' },
        log: { record },
        logger,
      });
      const result = await sender.deliverNow(alert());
      assert.equal(result.status, 'delivered');
      sender.send(alert());
      assert.equal(await within(sender.drain(), 10_000), true);
    }
    assert.equal(lines.filter((l) => l.includes('could not be recorded')).length, 4);
  });

  it('records an alert that cannot be serialised as failed without throwing', async () => {
    const receiver = await startReceiver();
    const { sender, records } = harness({ url: receiver.url });
    const bad = alert({ details: { big: 10n } });
    assert.doesNotThrow(() => sender.send(bad));
    assert.equal(await sender.drain(5_000), true);
    const record = await sender.deliverNow(alert({ at: Number.NaN }));
    assert.deepEqual(
      records.map((r) => [r.alertId, r.status, r.attempts]),
      [
        [bad.id, 'failed', 0],
        [record.alertId, 'failed', 0],
      ],
    );
    assert.match(records[0]!.lastError ?? '', /could not be serialised/);
    assert.equal(receiver.received.length, 0);
  });

  it('validates options with messages that name the field', () => {
    const base = {
      target: { url: 'http://127.0.0.1:1/hook', format: 'json' as const },
      log: { record: async () => {} },
      logger: pino({ level: 'silent' }),
    };
    const cases: [Partial<WebhookSenderOptions>, RegExp][] = [
      [{ target: { url: 'not a url', format: 'json' } }, /options\.target\.url/],
      [{ target: { url: 'ftp://example.test/x', format: 'json' } }, /options\.target\.url/],
      [{ target: { url: 'http://127.0.0.1/', format: 'xml' as never } }, /options\.target\.format/],
      [{ target: { url: 'http://127.0.0.1/', format: 'json', secret: '' } }, /options\.target\.secret/],
      [{ maxAttempts: 0 }, /options\.maxAttempts must be an integer of at least 1/],
      [{ baseDelayMs: -1 }, /options\.baseDelayMs/],
      [{ timeoutMs: 1.5 }, /options\.timeoutMs/],
      [{ maxPending: 0 }, /options\.maxPending/],
      [{ concurrency: Number.NaN }, /options\.concurrency/],
      [{ log: {} as never }, /options\.log\.record/],
    ];
    for (const [override, message] of cases) {
      assert.throws(() => createWebhookSender({ ...base, ...override }), message);
    }
    assert.doesNotThrow(() =>
      createWebhookSender({ ...base, target: { url: 'http://u%ZZ:p%@127.0.0.1:1/', format: 'json' } }),
    );
  });
});

describe('verifyWebhookSignature', () => {
  const body = JSON.stringify({ kind: 'intercepts', id: 'alr_1', summary: 'x' });
  const now = Date.UTC(2026, 0, 2, 12, 0, 0);
  const header = signWebhookBody(SECRET, body, now);

  it('accepts a fresh signature of the exact body', () => {
    assert.equal(verifyWebhookSignature(SECRET, header, body, now), true);
    assert.equal(verifyWebhookSignature(SECRET, [header], body, now + 299_000), true);
    assert.equal(verifyWebhookSignature(SECRET, header, body, now - 299_000), true);
  });

  it('rejects a tampered body or a wrong secret', () => {
    assert.equal(verifyWebhookSignature(SECRET, header, body.replace('alr_1', 'alr_2'), now), false);
    assert.equal(verifyWebhookSignature(SECRET, header, `${body} `, now), false);
    assert.equal(verifyWebhookSignature(`${SECRET}x`, header, body, now), false);
    assert.equal(verifyWebhookSignature('other', header, body, now), false);
  });

  it('rejects timestamps outside the tolerance, old or future', () => {
    assert.equal(verifyWebhookSignature(SECRET, header, body, now + 301_000), false);
    assert.equal(verifyWebhookSignature(SECRET, header, body, now - 301_000), false);
    assert.equal(verifyWebhookSignature(SECRET, header, body, now + 61_000, 60), false);
    // A valid MAC over a changed t is still a forgery.
    const t = Math.floor(now / 1000);
    assert.equal(verifyWebhookSignature(SECRET, header.replace(`t=${t}`, `t=${t + 1}`), body, now), false);
  });

  it('rejects malformed headers', () => {
    const t = Math.floor(now / 1000);
    const mac = header.slice(header.indexOf('v1=') + 3);
    const malformed: unknown[] = [
      '',
      ' ',
      `v1=${mac},t=${t}`,
      `t=${t}`,
      `v1=${mac}`,
      `t=${t},v1=${mac},v1=${mac}`,
      `t=${t},v1=${mac},v0=abc`,
      ` t=${t},v1=${mac}`,
      `t=${t},v1=${mac} `,
      `t=${t}, v1=${mac}`,
      `t=${t};v1=${mac}`,
      `T=${t},V1=${mac}`,
      `t=${t},v1=${mac.toUpperCase()}`,
      `t=${t},v1=${mac.slice(1)}`,
      `t=${t},v1=${mac}0`,
      `t=${t},v1=${mac.slice(1)}g`,
      `t=-${t},v1=${mac}`,
      `t=${t}.0,v1=${mac}`,
      `t=,v1=${mac}`,
      `t=${t},v1=`,
      `t=1e9,v1=${mac}`,
      [header, header],
      [],
      undefined,
      null,
      42,
      {},
    ];
    for (const h of malformed) {
      assert.equal(verifyWebhookSignature(SECRET, h as string, body, now), false, JSON.stringify(h));
    }
  });

  it('rejects unusable arguments without throwing', () => {
    const bad: [unknown, unknown, unknown, unknown, unknown][] = [
      ['', header, body, now, 300],
      [undefined, header, body, now, 300],
      [SECRET, header, undefined, now, 300],
      [SECRET, header, 42, now, 300],
      [SECRET, header, body, Number.NaN, 300],
      [SECRET, header, body, now, -1],
      [SECRET, header, body, now, Number.POSITIVE_INFINITY],
      [SECRET, { toString: () => header }, body, now, 300],
    ];
    for (const args of bad) {
      const call = verifyWebhookSignature as (...a: unknown[]) => boolean;
      assert.equal(call(...args), false);
    }
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.oneof(fc.string(), fc.constant(header), fc.anything()),
        fc.oneof(fc.string(), fc.uint8Array(), fc.anything()),
        fc.oneof(fc.double(), fc.integer()),
        (secret, h, raw, at) => {
          const result = (verifyWebhookSignature as (...a: unknown[]) => unknown)(secret, h, raw, at);
          return typeof result === 'boolean';
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('process lifetime', () => {
  const moduleUrl = new URL('../../src/alerts/webhook.js', import.meta.url).href;

  function runChild(script: string): Promise<{ code: number | null; stdout: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => {
        stdout += String(c);
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(killer);
        resolve({ code, stdout, ms: Date.now() - started });
      });
    });
  }

  function script(port: number, tail: string): string {
    return `
      import { createWebhookSender } from ${JSON.stringify(moduleUrl)};
      const quiet = { debug() {}, info() {}, warn() {} };
      const sender = createWebhookSender({
        target: { url: 'http://127.0.0.1:${port}/hook', format: 'json' },
        log: { record: async () => {} },
        logger: quiet,
        baseDelayMs: 60000,
        random: () => 1,
      });
      sender.send({ kind: 'intercepts', id: 'alr_child', at: Date.now(), summary: 's', details: {} });
      ${tail}
    `;
  }

  it('does not keep an otherwise finished process alive while waiting to retry', async () => {
    const port = await closedPort();
    const { code, ms } = await runChild(script(port, ''));
    assert.equal(code, 0);
    assert.ok(ms < 15_000, `exited after ${ms} ms`);
  });

  it('drain() holds the process open until its timeout', async () => {
    const port = await closedPort();
    const { code, stdout } = await runChild(
      script(port, 'const drained = await sender.drain(300); console.log(JSON.stringify({ drained }));'),
    );
    assert.equal(code, 0);
    assert.equal(stdout.trim(), '{"drained":false}');
  });
});
