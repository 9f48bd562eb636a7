/**
 * `portcullis start --workers N`: the primary process forks N gateway workers with node:cluster.
 * They share the proxy and admin ports (the primary accepts and hands connections round-robin)
 * and everything else through Redis and the database, exactly like N instances on N machines.
 *
 * The primary does no gateway work: it keeps N workers running and stops them in order.
 * - A worker that dies unexpectedly is started again after a backoff that doubles with each
 *   quick death (0.5 s, 1 s, 2 s … capped at 30 s) and starts over once a worker has stayed
 *   up for a minute: a crashing worker costs a restart every 30 s, never a tight loop.
 * - A worker that dies before it ever served at the first start is a start-up failure (bad
 *   configuration, database or Redis down): the whole pool stops, as one process would.
 * - `stop()` asks every worker to drain (finish in-flight requests, flush its recorder, close
 *   its stores) and waits for all, bounded; a second call kills what is left.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** Worker → primary once it serves. */
export interface ReadyMessage {
  type: 'portcullis:ready';
  proxy: string;
  admin: string;
}
/** Primary → worker: drain and exit. */
export const SHUTDOWN_MESSAGE = { type: 'portcullis:shutdown' } as const;
/** The environment variable telling a worker its slot (0…N-1): slots outlive restarts. */
export const WORKER_SLOT_ENV = 'PORTCULLIS_WORKER_SLOT';

export function isReadyMessage(message: unknown): message is ReadyMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'portcullis:ready'
  );
}

export function isShutdownMessage(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === SHUTDOWN_MESSAGE.type
  );
}

export interface WorkerPoolOptions {
  count: number;
  logger: Logger;
  /** How long `stop()` waits for the workers to drain before killing them. */
  stopTimeoutMs: number;
  /** First restart delay; doubles per quick death. Default 500 ms. */
  restartDelayMs?: number;
  /** Restart delay cap. Default 30 s. */
  maxRestartDelayMs?: number;
  /** A worker up this long resets the backoff. Default 60 s. */
  stableMs?: number;
  /** The first start fails when a worker is not ready within this. Default 120 s. */
  startTimeoutMs?: number;
  /** Other messages from workers (metrics requests); true when handled. */
  onMessage?: (worker: Worker, message: unknown) => boolean;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  /** Quick deaths in a row (the backoff exponent). */
  deaths: number;
  restart: NodeJS.Timeout | undefined;
  /** Restarts so far (reported in logs). */
  restarts: number;
}

export class WorkerPool {
  readonly #options: Required<WorkerPoolOptions>;
  readonly #slots: Slot[];
  #started = false;
  #stopping: Promise<number> | undefined;
  #failStart: ((error: Error) => void) | undefined;
  #exited: (() => void) | undefined;
  /** False once a worker exited with an error while stopping. */
  #cleanExits = true;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.count) || options.count < 1)
      throw new RangeError(`options.count must be a positive integer (got ${String(options.count)})`);
    this.#options = {
      onMessage: () => false,
      restartDelayMs: 500,
      maxRestartDelayMs: 30_000,
      stableMs: 60_000,
      startTimeoutMs: 120_000,
      ...options,
    };
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      worker: undefined,
      ready: false,
      startedAt: 0,
      deaths: 0,
      restart: undefined,
      restarts: 0,
    }));
  }

  /** Worker processes alive now, by slot (tests, logs). */
  get pids(): Array<number | undefined> {
    return this.#slots.map((slot) => slot.worker?.process.pid);
  }

  /**
   * Fork every worker and resolve once all serve, with the addresses they listen on; reject
   * (after stopping the others) if one dies first.
   */
  start(): Promise<ReadyMessage> {
    return new Promise<ReadyMessage>((resolve, reject) => {
      let first: ReadyMessage | undefined;
      this.#failStart = (error) => {
        this.#failStart = undefined;
        void this.stop().finally(() => reject(error));
      };
      const onReady = (message: ReadyMessage) => {
        first ??= message;
        if (!this.#started && this.#slots.every((slot) => slot.ready)) {
          this.#started = true;
          this.#failStart = undefined;
          resolve(first);
        }
      };
      // A worker stuck starting (a database that never answers) must not hang the start
      // silently: after the deadline the start fails, naming the slots that are not ready.
      const deadline = setTimeout(() => {
        const waiting = this.#slots.filter((slot) => !slot.ready).map((slot) => slot.index);
        this.#failStart?.(
          new Error(
            `worker ${waiting.join(', ')} did not start within ${this.#options.startTimeoutMs} ms (see its log above)`,
          ),
        );
      }, this.#options.startTimeoutMs);
      deadline.unref();
      const settle = this.#failStart;
      this.#failStart = (error) => {
        clearTimeout(deadline);
        settle(error);
      };
      for (const slot of this.#slots)
        this.#fork(slot, (message) => {
          onReady(message);
          if (this.#started) clearTimeout(deadline);
        });
    });
  }

  /**
   * Drain every worker and resolve with the exit code for the primary: 0 when every worker
   * stopped cleanly, 1 otherwise (or when some had to be killed).
   */
  stop(): Promise<number> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** Kill every worker now (a second signal). */
  kill(): void {
    for (const slot of this.#slots) {
      clearTimeout(slot.restart);
      slot.worker?.process.kill('SIGKILL');
    }
  }

  async #stop(): Promise<number> {
    const { logger, stopTimeoutMs } = this.#options;
    let clean = true;
    const alive = () => this.#slots.filter((slot) => slot.worker !== undefined);
    const exited = new Promise<void>((resolve) => {
      this.#exited = () => {
        if (alive().length === 0) resolve();
      };
    });
    for (const slot of this.#slots) {
      clearTimeout(slot.restart);
      slot.restart = undefined;
      const worker = slot.worker;
      if (!worker) continue;
      // The IPC message, not a signal: a worker ignores SIGINT (Ctrl-C reaches the whole
      // process group) so that it drains once, when asked here.
      try {
        worker.send(SHUTDOWN_MESSAGE);
      } catch {
        worker.process.kill('SIGTERM');
      }
    }
    this.#exited?.();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), stopTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      clean = false;
      const left = alive();
      logger.error(
        { workers: left.map((slot) => slot.worker?.process.pid) },
        'workers did not stop in time; killing them',
      );
      this.kill();
      await exited;
    }
    return clean && this.#cleanExits ? 0 : 1;
  }

  #fork(slot: Slot, onReady: (message: ReadyMessage) => void): void {
    const { logger } = this.#options;
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = performance.now();
    worker.on('message', (message: unknown) => {
      if (!isReadyMessage(message)) {
        this.#options.onMessage(worker, message);
        return;
      }
      if (slot.worker !== worker) return;
      slot.ready = true;
      if (slot.restarts > 0)
        logger.info(
          { worker: slot.index, pid: worker.process.pid, restarts: slot.restarts },
          'worker restarted',
        );
      onReady(message);
    });
    // 'exit', not 'disconnect': the slot is free only once the process is gone.
    worker.on('exit', (code, signal) => {
      if (slot.worker !== worker) return;
      const wasReady = slot.ready;
      slot.worker = undefined;
      slot.ready = false;
      if (this.#stopping) {
        if (code !== 0) {
          this.#cleanExits = false;
          logger.warn(
            { worker: slot.index, pid: worker.process.pid, code, signal },
            'worker stopped with an error',
          );
        }
        this.#exited?.();
        return;
      }
      if (!this.#started && !wasReady) {
        this.#failStart?.(
          new Error(
            `worker ${slot.index} exited before serving (code ${code}, signal ${signal}); see its log above`,
          ),
        );
        return;
      }
      const upMs = performance.now() - slot.startedAt;
      if (upMs >= this.#options.stableMs) slot.deaths = 0;
      const delay = Math.min(
        this.#options.maxRestartDelayMs,
        this.#options.restartDelayMs * 2 ** Math.min(slot.deaths, 20),
      );
      slot.deaths++;
      slot.restarts++;
      logger.warn(
        {
          worker: slot.index,
          pid: worker.process.pid,
          code,
          signal,
          upMs: Math.round(upMs),
          restartInMs: delay,
        },
        'worker died; starting it again',
      );
      slot.restart = setTimeout(() => {
        slot.restart = undefined;
        if (!this.#stopping) this.#fork(slot, onReady);
      }, delay);
    });
  }
}

/** `--workers` value: a positive integer, or `auto` for one per CPU the process may use. */
export function parseWorkerCount(raw: string, cpus: number): number {
  if (raw === 'auto') return Math.max(1, cpus);
  if (!/^[1-9][0-9]{0,3}$/.test(raw))
    throw new RangeError(`--workers must be a positive integer or "auto" (got "${raw}")`);
  return Number(raw);
}
