import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import type { AnomalyRecord } from '../../src/store/types.js';
import { runCli, tempDir } from '../helpers/gateway.js';

const MINUTE = 60_000;

function anomaly(id: string, at: number, extra: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    id,
    signal: 'burst',
    identityKind: 'key',
    identity: 'key_cli',
    bucketStart: at - MINUTE,
    intervalMs: MINUTE,
    detectedAt: at,
    lastSeenAt: at,
    occurrences: 1,
    score: 12.345678,
    observed: 480,
    expected: 40,
    explanation: 'key key_cli sent 480 requests in 60 s (expected about 40)',
    evidence: {
      metric: 'requests',
      observed: 480,
      expected: 40,
      stddev: 3.5,
      threshold: 75,
      history: 'own',
      requests: 480,
      series: [39, 41, 40, 480],
    },
    action: 'recorded',
    blockId: null,
    blockExpiresAt: null,
    alertId: null,
    status: 'open',
    resolvedAt: null,
    resolvedBy: null,
    resolutionNote: null,
    ...extra,
  };
}

describe('portcullis anomalies (local mode)', () => {
  const dir = tempDir();
  const cli = (args: string[]) => runCli(args, { cwd: dir });
  const now = Date.now();

  before(async () => {
    // The first command creates the data folder, the secret key and the database.
    const empty = await cli(['anomalies', 'list']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '(none)\n');
    const store = await openStore({ url: `sqlite:${join(dir, 'data', 'portcullis.db')}` });
    try {
      await store.blocks.upsert({
        id: 'blk_cli',
        kind: 'key',
        value: 'key_cli',
        reason: 'anomaly anm_cli_blocked: burst',
        source: 'anomaly',
        expiresAt: now + 60 * MINUTE,
      });
      await store.blocks.upsert({
        id: 'blk_cli_kept',
        kind: 'ip',
        value: '203.0.113.9/32',
        reason: 'anomaly anm_cli_kept: auth_failures',
        source: 'anomaly',
        expiresAt: null,
      });
      await store.alertDeliveries.insert({
        id: 'dlv_cli',
        alertId: 'alr_cli',
        kind: 'anomaly',
        url: 'https://hooks.example.com',
        status: 'delivered',
        attempts: 2,
        lastStatus: 200,
        lastError: null,
        createdAt: now - 3 * MINUTE,
        finishedAt: now - 3 * MINUTE + 900,
      });
      await store.anomalies.insert(
        anomaly('anm_cli_blocked', now - 3 * MINUTE, {
          action: 'blocked',
          blockId: 'blk_cli',
          blockExpiresAt: now + 60 * MINUTE,
          alertId: 'alr_cli',
        }),
      );
      await store.anomalies.insert(
        anomaly('anm_cli_kept', now - 2 * MINUTE, {
          signal: 'auth_failures',
          identityKind: 'ip',
          identity: '203.0.113.9',
          observed: 0.5,
          expected: 0.0125,
          action: 'blocked',
          blockId: 'blk_cli_kept',
        }),
      );
      await store.anomalies.insert(
        anomaly('anm_cli_old', now - 2 * 86_400_000, {
          signal: 'error_rate',
          identityKind: 'client',
          identity: 'acme',
          status: 'resolved',
          resolvedAt: now - 86_400_000,
          resolvedBy: 'ops',
          resolutionNote: 'deploy',
        }),
      );
    } finally {
      await store.close();
    }
  });

  it('lists newest first as a table or JSON, with filters', async () => {
    const table = await cli(['anomalies', 'list']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^TIME +ID +SIGNAL +IDENTITY +OBSERVED VS EXPECTED +ACTION +STATUS$/);
    assert.equal(lines.length, 4);
    assert.match(
      lines[1] ?? '',
      /anm_cli_kept +auth_failures +ip:203\.0\.113\.9 +0\.5 vs 0\.0125 +blocked +open$/,
    );
    assert.match(lines[2] ?? '', /anm_cli_blocked +burst +key:key_cli +480 vs 40 +blocked +open$/);
    assert.match(lines[3] ?? '', /anm_cli_old +error_rate +client:acme +480 vs 40 +recorded +resolved$/);
    assert.ok(lines[1]?.startsWith(new Date(now - 2 * MINUTE).toISOString()));

    const json = await cli(['anomalies', 'list', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const all = JSON.parse(json.stdout) as Array<{ id: string; identityKind: string; evidence: unknown }>;
    assert.deepEqual(
      all.map((a) => a.id),
      ['anm_cli_kept', 'anm_cli_blocked', 'anm_cli_old'],
    );
    assert.deepEqual(all[1]?.evidence, anomaly('x', 0).evidence);

    const ids = async (args: string[]) => {
      const answer = await cli(['anomalies', 'list', ...args, '--json']);
      assert.equal(answer.code, 0, `${args.join(' ')}: ${answer.stderr}`);
      return (JSON.parse(answer.stdout) as Array<{ id: string }>).map((a) => a.id);
    };
    assert.deepEqual(await ids(['--status', 'resolved']), ['anm_cli_old']);
    assert.deepEqual(await ids(['--signal', 'burst']), ['anm_cli_blocked']);
    assert.deepEqual(await ids(['--identity', 'ip:203.0.113.9']), ['anm_cli_kept']);
    assert.deepEqual(await ids(['--identity', 'client:acme', '--status', 'open']), []);
    assert.deepEqual(await ids(['--since', '1h']), ['anm_cli_kept', 'anm_cli_blocked']);
    assert.deepEqual(await ids(['--until', '1d']), ['anm_cli_old']);
    assert.deepEqual(await ids(['--limit', '1']), ['anm_cli_kept']);

    for (const args of [
      ['--signal', 'volcano'],
      ['--status', 'closed'],
      ['--identity', 'asn:64500'],
      ['--identity', 'key'],
      ['--limit', '0'],
      ['--since', 'yesterday'],
    ]) {
      const bad = await cli(['anomalies', 'list', ...args]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /^error\[invalid_input\]/);
    }
  });

  it('shows an anomaly with its evidence, block and alert deliveries', async () => {
    const shown = await cli(['anomalies', 'show', 'anm_cli_blocked']);
    assert.equal(shown.code, 0, shown.stderr);
    const text = shown.stdout;
    assert.match(text, /^anomaly anm_cli_blocked \(open\)\n/);
    assert.match(text, /key key_cli sent 480 requests/);
    assert.match(text, /identity +key:key_cli\n/);
    assert.match(text, /observed +480 \(expected 40, score 12\.3\)/);
    assert.match(
      text,
      /evidence +metric requests, observed 480, expected 40, stddev 3\.5, threshold 75, history own, requests 480\n/,
    );
    assert.match(text, /series +39 41 40 480 \(oldest first\)/);
    assert.match(text, /action +blocked \(block blk_cli until \d{4}-/);
    assert.match(
      text,
      /alert +alr_cli: deliveries\n +\S+ +delivered +https:\/\/hooks\.example\.com +2 attempt\(s\), last HTTP 200\n/,
    );

    const json = await cli(['anomalies', 'show', 'anm_cli_blocked', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const detail = JSON.parse(json.stdout) as {
      id: string;
      deliveries: Array<{ id: string }>;
      block: { id: string; source: string } | null;
    };
    assert.equal(detail.id, 'anm_cli_blocked');
    assert.deepEqual(
      detail.deliveries.map((d) => d.id),
      ['dlv_cli'],
    );
    assert.deepEqual([detail.block?.id, detail.block?.source], ['blk_cli', 'anomaly']);

    const missing = await cli(['anomalies', 'show', 'anm_nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error\[not_found\]: .*anm_nope/);
  });

  it('resolves, lifting the anomaly’s block unless --keep-block, audited as the OS user', async () => {
    const resolved = await cli(['anomalies', 'resolve', 'anm_cli_blocked', '--note', 'load test']);
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.equal(resolved.stdout, 'anomaly anm_cli_blocked resolved; block blk_cli lifted\n');
    const after = JSON.parse((await cli(['anomalies', 'show', 'anm_cli_blocked', '--json'])).stdout) as {
      status: string;
      resolutionNote: string;
      resolvedBy: string;
      block: unknown;
    };
    assert.deepEqual([after.status, after.resolutionNote, after.block], ['resolved', 'load test', null]);
    const blocks = JSON.parse((await cli(['blocks', 'list', '--json'])).stdout) as Array<{ id: string }>;
    assert.deepEqual(
      blocks.map((b) => b.id),
      ['blk_cli_kept'],
    );
    const shown = await cli(['anomalies', 'show', 'anm_cli_blocked']);
    assert.match(shown.stdout, /action +blocked \(block blk_cli lifted or expired\)/);
    assert.match(shown.stdout, new RegExp(`resolved +\\S+ by ${after.resolvedBy}: load test`));

    const kept = await cli(['anomalies', 'resolve', 'anm_cli_kept', '--keep-block', '--json']);
    assert.equal(kept.code, 0, kept.stderr);
    const keptBody = JSON.parse(kept.stdout) as { anomaly: { status: string }; liftedBlock: string | null };
    assert.deepEqual([keptBody.anomaly.status, keptBody.liftedBlock], ['resolved', null]);
    assert.equal((JSON.parse((await cli(['blocks', 'list', '--json'])).stdout) as unknown[]).length, 1);

    const audit = await cli(['audit', 'list', '--action', 'anomalies.resolve', '--json']);
    const entries = JSON.parse(audit.stdout) as Array<{ actor: string; source: string; targetId: string }>;
    assert.deepEqual(entries.map((e) => e.targetId).sort(), ['anm_cli_blocked', 'anm_cli_kept']);
    assert.ok(entries.every((e) => e.source === 'cli' && e.actor === after.resolvedBy));

    const badNote = await cli(['anomalies', 'resolve', 'anm_cli_old', '--note', 'two\nlines']);
    assert.equal(badNote.code, 2);
    assert.match(badNote.stderr, /^error\[invalid_input\]: note: /);
    const ghost = await cli(['anomalies', 'resolve', 'anm_nope', '--json']);
    assert.equal(ghost.code, 1);
    assert.equal((JSON.parse(ghost.stdout) as { error: { code: string } }).error.code, 'not_found');
  });

  it('run needs a running gateway: locally it is a conflict (exit 1)', async () => {
    const run = await cli(['anomalies', 'run']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error\[conflict\]: .*--url/);
    const json = await cli(['anomalies', 'run', '--json']);
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'conflict');
  });
});
