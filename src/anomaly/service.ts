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
import { SpecError } from '../core/spec-error.js';
import { addBlock, blockValue } from '../ip-controls/operations.js';
import { cidrsOverlap, parseCidr } from '../net/cidr.js';
import type { HotState } from '../state/types.js';
import type { AnomalyAction, AnomalyRecord, BlockKind, BlockRecord, Store } from '../store/types.js';
import { auditedStore } from '../telemetry/audit.js';
import type { AnomalyAggregator } from './aggregator.js';
import { Baselines, DEFAULT_PARAMS, type DetectorParams, evaluate, type Finding } from './detector.js';
import { formatRule, type Rule, type Rules } from './rules.js';

export type AnomalyMode = 'on' | 'shadow' | 'off';

export interface AnomalyServiceOptions {
  store: Store;
  state: HotState;
  clock: Clock;
  logger: Logger;
  /** This instance's id (the lease owner). */
  instanceId: string;
  aggregator: AnomalyAggregator;
  /** `shadow` records findings and does nothing else; read at every finding. */
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

/**
 * Which IP identities the detector must never block: loopback and the trusted proxies. An
 * identity is an address or, for IPv6, a /64, so it is protected when the two networks
 * overlap (`::1` is counted as `::/64`). Anything that does not parse is protected too.
 */
export function protectedNetworks(trustedProxies: readonly string[]): (value: string) => boolean {
  const networks = ['127.0.0.0/8', '::1/128', ...trustedProxies].flatMap((text) => parseCidr(text) ?? []);
  return (value) => {
    const network = parseCidr(value);
    return network === undefined || networks.some((p) => cidrsOverlap(p, network));
  };
}

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
  /** performance.now() until which the lease surely holds. */
  #leaseUntil = 0;
  /** Scheduled judging acts on floor-judged findings only from this bucket on. */
  #warmUntil = 0;
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

  /** Whether detection is on (or in shadow) now: the mode is a live setting. */
  get enabled(): boolean {
    return this.#o.mode() !== 'off';
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
      holds = await state.acquireLease(this.#leaseName(), instanceId, this.leaseMs);
    } catch (error) {
      // Unreachable state: nobody can read the aggregates either; stand down until it is back.
      logger.debug({ err: error }, 'anomaly lease not renewed');
    }
    if (holds) this.#leaseUntil = performance.now() + this.leaseMs;
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

  /** A new leader starts from what the last one saved; without it, it warms up first. */
  async #takeOver(): Promise<void> {
    const { state } = this.#o;
    this.#lastJudged = undefined;
    this.#leaseUntil = performance.now() + this.leaseMs;
    let loaded = false;
    if (state.shared) {
      try {
        const [saved, last] = await Promise.all([state.get(this.#baselineKey()), state.get(this.#lastKey())]);
        if (saved !== null) {
          this.#baselines = Baselines.fromJSON(JSON.parse(saved), this.#params.maxIdentities);
          loaded = this.#baselines.size > 0;
        }
        if (last !== null && /^\d+$/.test(last)) this.#lastJudged = Number(last);
      } catch (error) {
        this.#o.logger.warn({ err: error }, 'anomaly baselines not loaded; learning afresh');
      }
    }
    if (!loaded && this.#baselines.size === 0) {
      // Nothing learned yet (first start, a restart on memory state, nothing saved): every
      // identity would be judged against the floor, and the biggest customers would all look
      // like bursts. Learn for `warmup` intervals before acting on floor-judged findings.
      this.#warmUntil = Math.floor(this.#o.clock.now() / this.intervalMs) + this.#params.warmup;
    }
  }

  /** Whether the lease still holds with room to act; renews it when half of it has run. */
  async #holdsLease(): Promise<boolean> {
    if (!this.#leader || this.#stopped) return false;
    if (performance.now() < this.#leaseUntil - this.leaseMs / 2) return true;
    try {
      if (await this.#o.state.acquireLease(this.#leaseName(), this.#o.instanceId, this.leaseMs)) {
        this.#leaseUntil = performance.now() + this.leaseMs;
        return true;
      }
    } catch (error) {
      this.#o.logger.debug({ err: error }, 'anomaly lease not renewed');
    }
    // Lost, or cannot tell: stop acting; another instance may lead now.
    this.#leader = false;
    this.#o.logger.info({ instance: this.#o.instanceId }, 'anomaly detector: leadership lost');
    return false;
  }

  async #judgeDue(): Promise<void> {
    // Wait for the last flush of every instance before calling an interval complete.
    const graceMs = this.#o.aggregator.flushMs + 1_000;
    const due = Math.floor((this.#o.clock.now() - graceMs) / this.intervalMs) - 1;
    const first = this.#lastJudged === undefined ? due : Math.max(this.#lastJudged + 1, due - 1);
    if (first > due) return;
    await this.#o.aggregator.flush();
    for (let bucket = first; bucket <= due; bucket++) {
      if (!(await this.#holdsLease())) return;
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
    const { counts } = await this.#o.aggregator.read(bucket);
    const findings = evaluate(bucket, this.intervalMs, counts, baselines, this.#params, options);
    const anomalies: AnomalyRecord[] = [];
    // Scheduled judging acts only while this instance leads; run-now is an admin's request.
    const scheduled = options.elapsedMs === undefined;
    const warming = scheduled && bucket < this.#warmUntil;
    const blocks = new ActiveBlocks(this.#o.store, this.#o.clock.now());
    for (const finding of findings) {
      if (scheduled && !(await this.#holdsLease())) break;
      const anomaly = await this.#act(finding, blocks, warming).catch((error: unknown) => {
        this.#o.logger.error(
          { err: error, signal: finding.signal, identity: finding.identity },
          'anomaly not recorded; the next interval tries again',
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
   * interval would teach the baselines a low rate — and works on a copy of them. On an
   * instance that does not lead, the copy is the leader's last save; if that cannot be read,
   * the run fails rather than judging everyone against the floor.
   */
  async runNow(): Promise<RunResult> {
    await this.#o.aggregator.flush();
    let baselines: Baselines;
    if (this.#leader || !this.#o.state.shared) {
      baselines = this.#baselines.clone();
    } else {
      const saved = await this.#o.state.get(this.#baselineKey());
      baselines = Baselines.fromJSON(saved === null ? [] : JSON.parse(saved), this.#params.maxIdentities);
    }
    const now = this.#o.clock.now();
    const bucket = Math.floor(now / this.intervalMs);
    return this.#judge(bucket, { learn: false, elapsedMs: now - bucket * this.intervalMs }, baselines);
  }

  /**
   * Record the finding and carry out its rule, once per incident. The cooldown marker is taken
   * first (so two judges never both act) and given back if anything fails before the record
   * is written, so the next interval tries again instead of the incident going unrecorded.
   */
  async #act(finding: Finding, blocks: ActiveBlocks, warming: boolean): Promise<AnomalyRecord | undefined> {
    const { store, state, clock, rules, cooldownMs } = this.#o;
    const rule = rules[finding.signal];
    if (rule.action === 'off') return undefined;
    const now = clock.now();
    const id = `anm_${randomBase62(16)}`;
    const cooldownKey = `anomaly:cooldown:${finding.signal}:${finding.identity}`;
    if (!(await state.setIfAbsent(cooldownKey, id, cooldownMs))) {
      const open = await state.get(cooldownKey);
      const current = open === null ? undefined : await store.anomalies.get(open);
      if (current === undefined || current.status === 'resolved') {
        // Resolved (or lost): whatever happens now is a new incident.
        await state.del(cooldownKey);
        return this.#act(finding, blocks, warming);
      }
      await this.#recur(current, finding, blocks, cooldownKey, now);
      return undefined;
    }
    try {
      const shadow = this.#o.mode() === 'shadow';
      // While warming up, findings against the floor are kept, not acted on — except
      // credential stuffing, which is judged against the floor by nature.
      const held = warming && finding.evidence.history === 'floor' && finding.signal !== 'auth_failures';
      let action: AnomalyAction = shadow
        ? 'shadow'
        : rule.action === 'record' || held
          ? 'recorded'
          : 'alerted';
      let blockId: string | null = null;
      let blockExpiresAt: number | null = null;
      const notes: string[] = held ? ['detector warming up: recorded only'] : [];
      if (!shadow && !held && rule.action === 'block') {
        const blocked = await this.#block(finding, rule.durationMs, id, now, blocks);
        if (blocked.id) {
          action = 'blocked';
          blockId = blocked.id;
          blockExpiresAt = blocked.expiresAt;
        }
        if (blocked.note) notes.push(blocked.note);
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
        alertId: action === 'alerted' || action === 'blocked' ? `alr_${randomBase62(16)}` : null,
        status: 'open',
        resolvedAt: null,
        resolvedBy: null,
        resolutionNote: null,
      };
      await store.anomalies.insert(anomaly);
      // Alerted only once on record, so every alert names an anomaly that exists.
      if (anomaly.alertId) this.#alert(anomaly, finding, rule, notes);
      this.#o.onAnomaly?.(anomaly);
      return anomaly;
    } catch (error) {
      await state.del(cooldownKey).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A later finding of an open incident: counted in, the cooldown extended (one incident lasts
   * as long as it goes on), and — when the rule blocks and no block is in force any more (it
   * expired, or an admin lifted it while the attack went on) — blocked again.
   */
  async #recur(
    current: AnomalyRecord,
    finding: Finding,
    blocks: ActiveBlocks,
    cooldownKey: string,
    now: number,
  ) {
    const { store, state, rules, cooldownMs } = this.#o;
    const rule = rules[finding.signal];
    let block: { id: string; expiresAt: number | null } | undefined;
    if (rule.action === 'block' && current.action === 'blocked' && this.#o.mode() === 'on') {
      if (!(await blocks.find(finding.kind, finding.value))) {
        const blocked = await this.#block(finding, rule.durationMs, current.id, now, blocks);
        if (blocked.id) block = { id: blocked.id, expiresAt: blocked.expiresAt };
      }
    }
    await store.anomalies.recur(current.id, {
      at: now,
      observed: finding.observed,
      score: finding.score,
      ...(block ? { block } : {}),
    });
    await state.set(cooldownKey, current.id, cooldownMs);
  }

  #alert(anomaly: AnomalyRecord, finding: Finding, rule: Rule, notes: string[]): void {
    const blocked = anomaly.action === 'blocked';
    const until =
      anomaly.blockExpiresAt === null
        ? 'until lifted'
        : `until ${new Date(anomaly.blockExpiresAt).toISOString()}`;
    this.#o.send({
      kind: 'anomaly',
      id: anomaly.alertId as string,
      at: anomaly.detectedAt,
      summary: `${finding.explanation}${blocked ? ` — blocked ${until}` : ''}`,
      details: {
        anomaly: anomaly.id,
        signal: finding.signal,
        identity: `${finding.kind}:${finding.value}`,
        observed: finding.observed,
        expected: finding.expected,
        score: finding.score,
        action: anomaly.action,
        rule: formatRule(rule),
        ...(anomaly.blockId ? { block: anomaly.blockId } : {}),
        intervalStart: new Date(anomaly.bucketStart).toISOString(),
        intervalSeconds: this.intervalMs / 1000,
        ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
      },
    });
  }

  async #block(
    finding: Finding,
    durationMs: number | null,
    anomalyId: string,
    now: number,
    blocks: ActiveBlocks,
  ): Promise<{ id?: string; expiresAt: number | null; note?: string }> {
    const { store, clock } = this.#o;
    if (finding.kind === 'ip' && this.#o.protectedAddress(finding.value))
      return { expiresAt: null, note: 'not blocked: loopback or trusted-proxy address' };
    const expiresAt = durationMs === null ? null : now + durationMs;
    let value: string;
    try {
      value = blockValue(finding.kind, finding.value);
    } catch (error) {
      // An identity the blocklist cannot hold (a 300-character JWT subject): alert instead.
      return {
        expiresAt: null,
        note: `not blocked: ${error instanceof SpecError ? error.issues[0]?.message : 'not a blockable value'}`,
      };
    }
    const existing = await blocks.find(finding.kind, value);
    // Never touch a block someone else put there (an admin's stays exactly as it is), nor
    // shorten one of ours.
    if (
      existing &&
      (existing.source !== 'anomaly' ||
        existing.expiresAt === null ||
        (expiresAt !== null && existing.expiresAt >= expiresAt))
    )
      return { id: existing.id, expiresAt: existing.expiresAt, note: `already blocked (${existing.id})` };
    const audited = auditedStore(store, { actor: 'anomaly-detector', source: 'anomaly' }, clock);
    const block = await addBlock(
      audited,
      {
        kind: finding.kind,
        value,
        reason: `anomaly ${anomalyId}: ${finding.signal}`,
        source: 'anomaly',
        expiresAt,
      },
      now,
    );
    blocks.added(block);
    return { id: block.id, expiresAt: block.expiresAt };
  }

  async #save(): Promise<void> {
    this.#judgedSinceSave = 0;
    if (!this.#o.state.shared) return;
    await this.#o.state
      .set(this.#baselineKey(), JSON.stringify(this.#baselines), BASELINE_TTL_MS)
      .catch((error: unknown) => this.#o.logger.warn({ err: error }, 'anomaly baselines not saved'));
  }

  /** Per interval length: instances configured differently judge different intervals. */
  #leaseName(): string {
    return `anomaly:leader:${this.intervalMs}`;
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
      await this.#o.state.releaseLease(this.#leaseName(), this.#o.instanceId).catch(() => undefined);
      this.#leader = false;
    }
  }
}

/** The blocks in force, read once per judgement and kept up to date with what it adds. */
class ActiveBlocks {
  readonly #store: Store;
  readonly #now: number;
  readonly #byKind = new Map<string, Promise<BlockRecord[]>>();

  constructor(store: Store, now: number) {
    this.#store = store;
    this.#now = now;
  }

  async find(kind: BlockKind, value: string): Promise<BlockRecord | undefined> {
    return (await this.#list(kind)).find((b) => b.value === value);
  }

  added(block: BlockRecord): void {
    void this.#list(block.kind).then((list) => {
      const at = list.findIndex((b) => b.value === block.value);
      if (at === -1) list.push(block);
      else list[at] = block;
    });
  }

  #list(kind: BlockKind): Promise<BlockRecord[]> {
    let list = this.#byKind.get(kind);
    if (list === undefined) {
      list = this.#store.blocks.list({ kind, activeAt: this.#now });
      this.#byKind.set(kind, list);
      // A failed read is retried by the next finding rather than cached.
      list.catch(() => this.#byKind.delete(kind));
    }
    return list;
  }
}
