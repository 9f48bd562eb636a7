/**
 * Notices configuration changes and tells the in-memory snapshots to reload. Two signals:
 * a change event on the hot-state bus (immediate, across instances when state is Redis) and
 * a periodic check of the store's config version (the safety net for missed events, and the
 * only signal when state is in memory and the change was made by another process — the CLI).
 */
import type { Logger } from 'pino';
import type { HotState, Unsubscribe } from '../state/types.js';
import type { Store } from '../store/types.js';

export const CONFIG_CHANNEL = 'config-changed';

/** Tell every instance that configuration changed (after the store transaction committed). */
export async function announceConfigChange(state: HotState, version: number): Promise<void> {
  await state.publish(CONFIG_CHANNEL, String(version));
}

export type ChangeListener = () => Promise<void>;

export class ConfigWatcher {
  readonly #store: Store;
  readonly #state: HotState;
  readonly #pollMs: number;
  readonly #logger: Logger;
  readonly #listeners: ChangeListener[] = [];
  #version = -1;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(options: { store: Store; state: HotState; pollMs: number; logger: Logger }) {
    this.#store = options.store;
    this.#state = options.state;
    this.#pollMs = options.pollMs;
    this.#logger = options.logger;
  }

  get version(): number {
    return this.#version;
  }

  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  async start(): Promise<void> {
    this.#version = await this.#store.configVersion();
    this.#unsubscribe = await this.#state.subscribe(CONFIG_CHANNEL, () => void this.reload());
    this.#timer = setInterval(() => void this.#poll(), this.#pollMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    try {
      const version = await this.#store.configVersion();
      if (version !== this.#version) await this.reload();
    } catch (error) {
      // A store hiccup leaves the current snapshot in force; the next poll tries again.
      this.#logger.warn({ err: error }, 'configuration version check failed');
    }
  }

  /** Reload every snapshot now. Concurrent calls coalesce into at most one extra pass. */
  reload(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          const started = performance.now();
          const version = await this.#store.configVersion();
          for (const listener of this.#listeners) await listener();
          this.#version = version;
          this.#logger.debug(
            { version, ms: Math.round(performance.now() - started) },
            'configuration reloaded',
          );
        } catch (error) {
          this.#logger.error(
            { err: error },
            'configuration reload failed; keeping the previous configuration',
          );
        }
      } while (this.#again);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#running;
  }
}
