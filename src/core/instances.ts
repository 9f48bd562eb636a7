/**
 * Instance heartbeats: each gateway marks itself alive in the shared state every few seconds,
 * with what an operator needs to tell instances apart (id, version, host and process, listener
 * addresses, start time, state backend, degraded rate-limit mode), and learns how many
 * instances are alive. The `local` degraded rate-limit mode divides each limit by that count,
 * so N instances enforcing locally still add up to about the limit. The last count seen is
 * kept when the state is unreachable — which is exactly when it is needed.
 *
 * An instance that stops cleanly leaves the group at once; one that dies is forgotten after
 * three missed beats (`INSTANCE_TTL_MS`).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { HotState, StateKind } from '../state/types.js';

export const INSTANCE_GROUP = 'instances';
export const HEARTBEAT_INTERVAL_MS = 2_000;
/** Three missed beats: an instance paused by a long GC or a slow Redis is not dropped at once. */
export const INSTANCE_TTL_MS = HEARTBEAT_INTERVAL_MS * 3;

/** What an instance says about itself in each beat. */
export interface InstanceInfo {
  version: string;
  host: string;
  pid: number;
  /** Its slot under `portcullis start --workers N` (0…N-1), null for a single process. */
  worker: number | null;
  /** `host:port` of the proxy listener, null until it listens. */
  proxy: string | null;
  /** `host:port` of the admin listener, null until it listens. */
  admin: string | null;
  /** Epoch ms. */
  startedAt: number;
  state: StateKind;
  /** The degraded rate-limit mode in force (`local`, `open`, `closed`), null when limits are healthy. */
  degraded: string | null;
}

/** A live instance as listed: what it last said (null where it said nothing) and when. */
export interface InstanceView {
  id: string;
  version: string | null;
  host: string | null;
  pid: number | null;
  worker: number | null;
  proxy: string | null;
  admin: string | null;
  startedAt: number | null;
  state: string | null;
  degraded: string | null;
  /** Epoch ms of its last beat, by the state's clock (Redis time with Redis). */
  lastBeatAt: number;
}

/** The dynamic part of an instance's description, read at each beat. */
export type DescribeInstance = () => Pick<InstanceInfo, 'proxy' | 'admin' | 'degraded'>;

export class InstanceRegistry {
  readonly id = randomUUID();
  readonly #state: HotState;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #fixed: Omit<InstanceInfo, 'proxy' | 'admin' | 'degraded'>;
  readonly #describe: DescribeInstance;
  #live = 1;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: {
    state: HotState;
    logger: Logger;
    version: string;
    startedAt: number;
    worker?: number | undefined;
    describe?: DescribeInstance;
    intervalMs?: number;
  }) {
    this.#state = options.state;
    this.#intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.#logger = options.logger;
    this.#fixed = {
      version: options.version,
      host: hostname(),
      pid: process.pid,
      worker: options.worker ?? null,
      startedAt: options.startedAt,
      state: options.state.kind,
    };
    this.#describe = options.describe ?? (() => ({ proxy: null, admin: null, degraded: null }));
  }

  /** Instances alive at the last successful heartbeat (at least this one). */
  get live(): number {
    return this.#live;
  }

  #stopped = false;
  #inFlight: Promise<void> | undefined;

  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Beat now (also after something described changed, e.g. the listeners are bound). */
  beat(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const beating = this.#beat();
    this.#inFlight = beating;
    return beating;
  }

  async #beat(): Promise<void> {
    const info: InstanceInfo = { ...this.#fixed, ...this.#describe() };
    try {
      this.#live = Math.max(
        1,
        await this.#state.heartbeat(INSTANCE_GROUP, this.id, this.#intervalMs * 3, JSON.stringify(info)),
      );
    } catch (error) {
      this.#logger.debug({ err: error }, 'heartbeat failed; keeping the last instance count');
    }
  }

  /** Every live instance sharing this state, this one included. */
  list(): Promise<InstanceView[]> {
    return listInstances(this.#state, this.#intervalMs * 3);
  }

  /** Stop beating and leave the group, so the others stop counting this instance at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // A beat still on its way would land after the leave and list this instance again.
    await this.#inFlight;
    try {
      await this.#state.leave(INSTANCE_GROUP, this.id);
    } catch (error) {
      // It is forgotten after three missed beats anyway.
      this.#logger.debug({ err: error }, 'could not leave the instance group');
    }
  }
}

/** Live instances in a state, by start time (then id). Readable without being one (the CLI). */
export async function listInstances(state: HotState, ttlMs = INSTANCE_TTL_MS): Promise<InstanceView[]> {
  const members = await state.members(INSTANCE_GROUP, ttlMs);
  return members
    .map(({ member, info, lastBeatAt }) => ({ id: member, ...parseInfo(info), lastBeatAt }))
    .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * What a member said, field by field: an instance of another version may send more, fewer or
 * differently typed fields, and it is still listed (what cannot be read is null).
 */
function parseInfo(info: string | null): Omit<InstanceView, 'id' | 'lastBeatAt'> {
  let raw: Record<string, unknown> = {};
  if (info !== null) {
    try {
      const parsed: unknown = JSON.parse(info);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        raw = parsed as Record<string, unknown>;
    } catch {
      // listed with nulls
    }
  }
  const text = (name: string) => (typeof raw[name] === 'string' ? (raw[name] as string) : null);
  const whole = (name: string) => (Number.isSafeInteger(raw[name]) ? (raw[name] as number) : null);
  return {
    version: text('version'),
    host: text('host'),
    pid: whole('pid'),
    worker: whole('worker'),
    proxy: text('proxy'),
    admin: text('admin'),
    startedAt: whole('startedAt'),
    state: text('state'),
    degraded: text('degraded'),
  };
}
