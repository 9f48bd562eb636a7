/**
 * The running detector: a lease decides which instance evaluates (exactly one at a time when
 * instances share Redis), every interval it reads the interval just ended from the shared
 * aggregates, judges it against the baselines (detector.ts) and acts on what stands out by
 * the rules: record, alert through the webhook sender, or block through the blocklist.
 *
 * Leadership: each instance tries to take or renew the lease every `renewMs` (a third of the
 * interval, at most 10 s); the lease lasts 1.5 intervals. A leader that dies stops renewing,
 * its lease runs out, and the next attempt of another instance takes over: within
 * 1.5 intervals + renewMs, so under two intervals. A leader that stops cleanly releases the
 * lease at once. The baselines travel with the lease: the leader keeps them in memory and,
 * when the state is shared, saves them to it every few intervals and at shutdown for the next
 * leader; the last interval judged is kept there too so no interval is judged twice.
 *
 * One incident is one anomaly and one alert: the first finding of a signal for an identity
 * takes a cooldown marker (set-if-absent, shared); later findings within the cooldown are
 * folded into that anomaly (`occurrences`, `last_seen_at`) without acting again.
 */
import type { Logger } from 'pino';
import type { Alert } from '../alerts/webhook.js';
import type { Clock } from '../core/clock.js';
import { randomBase62 } from '../core/crypto.js';
import { addBlock } from '../ip-controls/operations.js';
import type { HotState } from '../state/types.js';
import type { AnomalyAction, AnomalyRecord, Store } from '../store/types.js';
import { auditedStore } from '../telemetry/audit.js';
import { type AnomalyAggregator, readBucket } from './aggregator.js';
import { Baselines, DEFAULT_PARAMS, type DetectorParams, evaluate, type Finding } from './detector.js';
import { formatRule, type Rules } from './rules.js';

export type AnomalyMode = 'on' | 'shadow' | 'off';

export interface AnomalyServiceOptions {
  store: Store;
  state: HotState;
  clock: Clock;
  logger: Logger;
  /** This instance's id (the lease owner). */
  instanceId: string;
  aggregator: AnomalyAggregator;
  /** `shadow` records findings and does nothing else; read on every evaluation (live setting). */
  mode: () => AnomalyMode;
  rules: Rules;
  cooldownMs: number;
  params?: DetectorParams;
  /** The alert webhook sender (never throws). */
  send: (alert: Alert) => void;
  /** Addresses never blocked automatically (loopback, trusted proxies): blocking them would cut off everyone behind them. */
  protectedAddress: (value: string) => boolean;
  renewMs?: number;
  /** Intervals between baseline saves to the shared state. Default 5. */
  saveEvery?: number;
  /** Told of every new incident (metrics). */
  onAnomaly?: (anomaly: AnomalyRecord) => void;
}

export interface RunResult {
  bucketStart: number;
  intervalMs: number;
  identities: number;
  findings: Finding[];
  anomalies: AnomalyRecord[];
}

const LEASE = 'anomaly:leader';
const BASELINE_TTL_MS = 7 * 86_400_000;

export class AnomalyService {
  readonly #o: AnomalyServiceOptions;
  readonly #params: DetectorParams;
  readonly intervalMs: number;
  readonly renewMs: number;
  readonly leaseMs: number;
  #baselines: Baselines;
  #leader = false;
  #lastJudged: number | undefined;
  #judgedSinceSave = 0;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;

  constructor(options: AnomalyServiceOptions) {
    this.#o = options;
    this.#params = options.params ?? DEFAULT_PARAMS;
    this.intervalMs = options.aggregator.intervalMs;
    this.renewMs = options.renewMs ?? Math.max(100, Math.min(10_000, Math.floor(this.intervalMs / 3)));
    this.leaseMs = Math.max(this.renewMs * 2, Math.floor(this.intervalMs * 1.5));
    this.#baselines = new Baselines(this.#params.maxIdentities);
  }

  get leader(): boolean {
    return this.#leader;
  }

  /** Identities with a baseline (for metrics and tests). */
  get tracked(): number {
    return this.#baselines.size;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.renewMs);
    this.#timer.unref();
    void this.tick();
  }

  /** One step: take or renew the lease, then judge every interval that is due. Never rejects. */
  tick(): Promise<void> {
    if (this.#busy) return this.#busy;
    this.#busy = this.#tick()
      .catch((error: unknown) => this.#o.logger.warn({ err: error }, 'anomaly detector step failed'))
      .finally(() => {
        this.#busy = undefined;
      });
    return this.#busy;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const { state, instanceId, logger } = this.#o;
    let holds = false;
    try {
      holds = await state.acquireLease(LEASE, instanceId, this.leaseMs);
    } catch (error) {
      // Unreachable state: nobody can read the aggregates either; stand down until it is back.
      logger.debug({ err: error }, 'anomaly lease not renewed');
    }
    if (holds && !this.#leader) {
      this.#leader = true;
      await this.#takeOver();
      logger.info({ instance: instanceId }, 'anomaly detector: this instance leads');
    } else if (!holds && this.#leader) {
      this.#leader = false;
      logger.info({ instance: instanceId }, 'anomaly detector: leadership lost');
    }
    if (this.#leader && this.#o.mode() !== 'off') await this.#judgeDue();
  }

  /** A new leader starts from what the last one saved. */
  async #takeOver(): Promise<void> {
    const { state } = this.#o;
    this.#lastJudged = undefined;
    if (!state.shared) return;
    try {
      const [saved, last] = await Promise.all([state.get(this.#baselineKey()), state.get(this.#lastKey())]);
      if (saved !== null) this.#baselines = Baselines.fromJSON(JSON.parse(saved), this.#params.maxIdentities);
      if (last !== null && /^\d+$/.test(last)) this.#lastJudged = Number(last);
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'anomaly baselines not loaded; learning afresh');
    }
  }

  async #judgeDue(): Promise<void> {
    // Wait for the last flush of every instance before calling an interval complete.
    const graceMs = this.#o.aggregator.flushMs + 1_000;
    const due = Math.floor((this.#o.clock.now() - graceMs) / this.intervalMs) - 1;
    const first = this.#lastJudged === undefined ? due : Math.max(this.#lastJudged + 1, due - 1);
    for (let bucket = first; bucket <= due; bucket++) {
      if (this.#stopped || !this.#leader) return;
      await this.#judge(bucket, { learn: true });
      this.#lastJudged = bucket;
      await this.#o.state.set(this.#lastKey(), String(bucket), this.intervalMs * 10).catch(() => undefined);
      if (++this.#judgedSinceSave >= (this.#o.saveEvery ?? 5)) await this.#save();
    }
  }

  async #judge(
    bucket: number,
    options: { learn: boolean; elapsedMs?: number },
    baselines = this.#baselines,
  ): Promise<RunResult> {
    const { counts } = await readBucket(this.#o.state, this.intervalMs, bucket);
    const findings = evaluate(bucket, this.intervalMs, counts, baselines, this.#params, options);
    const anomalies: AnomalyRecord[] = [];
    for (const finding of findings) {
      const anomaly = await this.#act(finding).catch((error: unknown) => {
        this.#o.logger.error(
          { err: error, signal: finding.signal, identity: finding.identity },
          'anomaly not recorded',
        );
        return undefined;
      });
      if (anomaly) anomalies.push(anomaly);
    }
    if (findings.length > 0)
      this.#o.logger.info(
        { bucket, findings: findings.length, recorded: anomalies.length },
        'anomalies found',
      );
    return {
      bucketStart: bucket * this.intervalMs,
      intervalMs: this.intervalMs,
      identities: counts.size,
      findings,
      anomalies,
    };
  }

  /**
   * Judge the interval in progress now (after writing this instance's counts): the smoke test
   * and admins use it to see the detector at work without waiting. Learns nothing — a partial
   * interval would teach the baselines a low rate — and works on a copy of them.
   */
  async runNow(): Promise<RunResult> {
    await this.#o.aggregator.flush();
    let baselines: Baselines;
    if (this.#leader || !this.#o.state.shared) {
      baselines = Baselines.fromJSON(JSON.parse(JSON.stringify(this.#baselines)), this.#params.maxIdentities);
    } else {
      const saved = await this.#o.state.get(this.#baselineKey()).catch(() => null);
      baselines = Baselines.fromJSON(saved === null ? [] : JSON.parse(saved), this.#params.maxIdentities);
    }
    const now = this.#o.clock.now();
    const bucket = Math.floor(now / this.intervalMs);
    return this.#judge(bucket, { learn: false, elapsedMs: now - bucket * this.intervalMs }, baselines);
  }

  /** Record the finding and carry out its rule, once per incident. */
  async #act(finding: Finding): Promise<AnomalyRecord | undefined> {
    const { store, state, clock, rules, cooldownMs } = this.#o;
    const rule = rules[finding.signal];
    if (rule.action === 'off') return undefined;
    const now = clock.now();
    const id = `anm_${randomBase62(16)}`;
    const cooldownKey = `anomaly:cooldown:${finding.signal}:${finding.identity}`;
    if (!(await state.setIfAbsent(cooldownKey, id, cooldownMs))) {
      const open = await state.get(cooldownKey);
      if (open !== null)
        await store.anomalies.recur(open, { at: now, observed: finding.observed, score: finding.score });
      return undefined;
    }
    const shadow = this.#o.mode() === 'shadow';
    let action: AnomalyAction = shadow ? 'shadow' : rule.action === 'record' ? 'recorded' : 'alerted';
    let blockId: string | null = null;
    let blockExpiresAt: number | null = null;
    const notes: string[] = [];
    if (!shadow && rule.action === 'block') {
      const blocked = await this.#block(finding, rule.durationMs, id, now);
      if (blocked.id) {
        action = 'blocked';
        blockId = blocked.id;
        blockExpiresAt = blocked.expiresAt;
      }
      if (blocked.note) notes.push(blocked.note);
    }
    let alertId: string | null = null;
    if (action === 'alerted' || action === 'blocked') {
      alertId = `alr_${randomBase62(16)}`;
      this.#o.send({
        kind: 'anomaly',
        id: alertId,
        at: now,
        summary: `${finding.explanation}${action === 'blocked' ? ` — blocked ${blockExpiresAt === null ? 'until lifted' : `until ${new Date(blockExpiresAt).toISOString()}`}` : ''}`,
        details: {
          anomaly: id,
          signal: finding.signal,
          identity: `${finding.kind}:${finding.value}`,
          observed: finding.observed,
          expected: finding.expected,
          score: finding.score,
          action,
          rule: formatRule(rule),
          ...(blockId ? { block: blockId } : {}),
          intervalStart: new Date(finding.bucket * this.intervalMs).toISOString(),
          intervalSeconds: this.intervalMs / 1000,
          ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        },
      });
    }
    const anomaly: AnomalyRecord = {
      id,
      signal: finding.signal,
      identityKind: finding.kind,
      identity: finding.value,
      bucketStart: finding.bucket * this.intervalMs,
      intervalMs: this.intervalMs,
      detectedAt: now,
      lastSeenAt: now,
      occurrences: 1,
      score: finding.score,
      observed: finding.observed,
      expected: finding.expected,
      explanation: notes.length > 0 ? `${finding.explanation} (${notes.join('; ')})` : finding.explanation,
      evidence: finding.evidence,
      action,
      blockId,
      blockExpiresAt,
      alertId,
      status: 'open',
      resolvedAt: null,
      resolvedBy: null,
      resolutionNote: null,
    };
    await store.anomalies.insert(anomaly);
    this.#o.onAnomaly?.(anomaly);
    return anomaly;
  }

  async #block(
    finding: Finding,
    durationMs: number | null,
    anomalyId: string,
    now: number,
  ): Promise<{ id?: string; expiresAt: number | null; note?: string }> {
    const { store, clock } = this.#o;
    if (finding.kind === 'ip' && this.#o.protectedAddress(finding.value))
      return { expiresAt: null, note: 'not blocked: loopback or trusted-proxy address' };
    const expiresAt = durationMs === null ? null : now + durationMs;
    // Never shorten or replace a block someone already put there (a manual block until lifted
    // must not become a 15-minute one).
    const existing = (await store.blocks.list({ kind: finding.kind, activeAt: now })).find(
      (b) => b.value === finding.value,
    );
    if (existing && (existing.expiresAt === null || (expiresAt !== null && existing.expiresAt >= expiresAt)))
      return { id: existing.id, expiresAt: existing.expiresAt, note: `already blocked (${existing.id})` };
    const audited = auditedStore(store, { actor: 'anomaly-detector', source: 'anomaly' }, clock);
    const block = await addBlock(
      audited,
      {
        kind: finding.kind,
        value: finding.value,
        reason: `anomaly ${anomalyId}: ${finding.signal}`,
        source: 'anomaly',
        expiresAt,
      },
      now,
    );
    return { id: block.id, expiresAt: block.expiresAt };
  }

  async #save(): Promise<void> {
    this.#judgedSinceSave = 0;
    if (!this.#o.state.shared) return;
    await this.#o.state
      .set(this.#baselineKey(), JSON.stringify(this.#baselines), BASELINE_TTL_MS)
      .catch((error: unknown) => this.#o.logger.warn({ err: error }, 'anomaly baselines not saved'));
  }

  #baselineKey(): string {
    return `anomaly:baselines:${this.intervalMs}`;
  }

  #lastKey(): string {
    return `anomaly:judged:${this.intervalMs}`;
  }

  /** Stop; a leader saves its baselines and hands the lease over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#busy;
    if (this.#leader) {
      await this.#save();
      await this.#o.state.releaseLease(LEASE, this.#o.instanceId).catch(() => undefined);
      this.#leader = false;
    }
  }
}
