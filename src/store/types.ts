/**
 * The configuration-and-records store: one typed SQL layer (Kysely) over SQLite (embedded
 * default) and PostgreSQL (scale-out). Repositories are the only way the rest of the code
 * touches SQL; dialect differences live in `dialect.ts` as capability flags.
 * Every implementation passes the shared suite in test/store/store-contract.ts.
 */
import type { Kysely } from 'kysely';
import type { RouteSpec } from '../routing/spec.js';

export type StoreDialect = 'sqlite' | 'postgres';

export interface StoreCapabilities {
  /** Several processes may write concurrently (PostgreSQL) vs. one file (SQLite, WAL). */
  readonly multiWriter: boolean;
  /** DDL runs inside transactions (PostgreSQL yes; SQLite yes; kept for future dialects). */
  readonly transactionalDdl: boolean;
}

export interface StoreHealth {
  ok: boolean;
  dialect: StoreDialect;
  latencyMs?: number;
  error?: string;
}

/** Timestamps are epoch milliseconds everywhere (same representation in both dialects). */
export interface RouteRecord {
  spec: RouteSpec;
  createdAt: number;
  updatedAt: number;
}

export interface RouteRepository {
  list(): Promise<RouteRecord[]>;
  get(id: string): Promise<RouteRecord | undefined>;
  /** Throws ConflictError when the id exists. */
  insert(spec: RouteSpec): Promise<RouteRecord>;
  /** Replaces the whole spec, keeps createdAt. Throws NotFoundError when absent. */
  replace(spec: RouteSpec): Promise<RouteRecord>;
  /** Returns false when there was nothing to remove. */
  remove(id: string): Promise<boolean>;
}

/** Small key/value facts about the installation (config version, secret-key fingerprint…). */
export interface MetaRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /**
   * Store `value` unless `key` already has one; returns the value now stored. Atomic, so two
   * processes initialising the same fact at once agree on one winner.
   */
  setIfAbsent(key: string, value: string): Promise<string>;
}

export interface Repositories {
  readonly routes: RouteRepository;
  readonly meta: MetaRepository;
}

export interface MigrationReport {
  /** Names of migrations applied by this call, in order (empty when up to date). */
  applied: string[];
}

export interface Store extends Repositories {
  readonly dialect: StoreDialect;
  readonly capabilities: StoreCapabilities;
  /** Escape hatch for repositories added by later modules; not for ad-hoc SQL elsewhere. */
  readonly db: Kysely<Database>;
  /**
   * Run `fn` in one transaction. Used by declarative apply so a file is applied whole or
   * not at all. Every mutation (inside or outside `write`) bumps the config version in the
   * same transaction as the change.
   */
  write<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
  /**
   * Monotonic counter bumped by every configuration change. Gateways poll it as a safety
   * net for missed change events (and as the only signal when state is in memory and the
   * change came from another process, such as the CLI).
   */
  configVersion(): Promise<number>;
  migrate(): Promise<MigrationReport>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

// ---- table types (Kysely) ----

export interface MetaTable {
  key: string;
  value: string;
}

export interface RoutesTable {
  id: string;
  host: string;
  path: string;
  /** JSON of the whole RouteSpec; host/path are duplicated as columns for listing/sorting. */
  spec: string;
  created_at: number;
  updated_at: number;
}

export interface Database {
  meta: MetaTable;
  routes: RoutesTable;
}
