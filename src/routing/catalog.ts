/**
 * Holds the compiled route table the request path reads, and rebuilds it from the store
 * when configuration changes. A table that fails to compile (for instance a tie written to
 * the database behind the CLI's back) is refused and the previous table stays in force.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import type { CompileDefaults } from './compile.js';
import type { RouteSpec } from './spec.js';
import { RouteTable } from './table.js';

export class RouteCatalog {
  #table: RouteTable = RouteTable.empty();
  readonly #store: Store;
  readonly #defaults: CompileDefaults;
  readonly #logger: Logger;
  /** Routes served only while the database has none (the demo). */
  readonly #fallback: readonly RouteSpec[];
  #usingFallback = false;

  constructor(options: {
    store: Store;
    defaults: CompileDefaults;
    logger: Logger;
    fallback?: readonly RouteSpec[];
  }) {
    this.#store = options.store;
    this.#defaults = options.defaults;
    this.#logger = options.logger;
    this.#fallback = options.fallback ?? [];
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** True while the fallback (demo) routes are being served. */
  get usingFallback(): boolean {
    return this.#usingFallback;
  }

  readonly current = (): RouteTable => this.#table;

  async refresh(): Promise<void> {
    const records = await this.#store.routes.list();
    const useFallback = records.length === 0 && this.#fallback.length > 0;
    const specs = useFallback ? this.#fallback : records.map((r) => r.spec);
    try {
      this.#table = RouteTable.compile(specs, this.#defaults);
      if (this.#usingFallback && !useFallback) this.#logger.info('routes configured: demo routes withdrawn');
      this.#usingFallback = useFallback;
      this.#logger.debug({ routes: specs.length }, 'route table compiled');
    } catch (error) {
      this.#logger.error({ err: error }, 'route table rejected; keeping the previous one');
    }
  }
}
