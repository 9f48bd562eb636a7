/**
 * The one place a database backend is chosen: `parseDatabaseUrl` switches over the URL scheme
 * and fails fast on anything else; `openStore` builds the Kysely instance for the result.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, sql } from 'kysely';
import { Pool, TypeOverrides } from 'pg';
import Cursor from 'pg-cursor';
import { type Clock, systemClock } from '../core/clock.js';
import { readPem } from '../core/pem.js';
import { type DialectAdapter, postgresAdapter, SQLITE_BUSY_TIMEOUT_MS, sqliteAdapter } from './dialect.js';
import { migrateToLatest } from './migrations/index.js';
import { StorePostgresDialect } from './pg-introspector.js';
import { createRepositories } from './repositories/index.js';
import { readConfigVersion } from './repositories/meta.js';
import type {
  AdminSessionRepository,
  AdminUserRepository,
  AlertDeliveryRepository,
  AnomalyRepository,
  ApiKeyRepository,
  AuditLogRepository,
  BindingRepository,
  BlockRepository,
  ClientRepository,
  Database,
  GrantRepository,
  HmacSecretRepository,
  InterceptRepository,
  JwtProviderRepository,
  LiveSettingsRepository,
  MetaRepository,
  MigrationReport,
  PolicyRepository,
  Repositories,
  RequestLogRepository,
  RouteRepository,
  ServiceTokenRepository,
  Store,
  StoreCapabilities,
  StoreDialect,
  StoreHealth,
  UsageRepository,
} from './types.js';

export interface OpenStoreOptions {
  /** `sqlite:./data/portcullis.db`, `sqlite:/abs/path.db`, `sqlite::memory:`, `postgres://…`, `postgresql://…` */
  url: string;
  /** PostgreSQL only: schema to create (if missing) and put on every connection's search_path. */
  schema?: string;
  /** PostgreSQL only: maximum pooled connections (default 10). SQLite always has one. */
  poolSize?: number;
  /** PostgreSQL only: an unused pooled connection is closed after this long (default 10 000 ms). */
  idleTimeoutMs?: number;
  /**
   * PostgreSQL only: longest wait to open a connection, or for a free one while the pool is
   * full, before the query fails (default 10 000 ms).
   */
  connectTimeoutMs?: number;
  /**
   * PostgreSQL only: TLS, with libpq's sslmode names. Unset: whatever the URL says (its
   * `sslmode=` parameter), else none. Set: the URL must not set TLS too.
   */
  tls?: PostgresTls;
  /** Source of created/updated timestamps and health latency (default: system clock). */
  clock?: Clock;
  /** Receives errors of idle pooled connections, which have no caller to throw to. */
  logger?: { warn(msg: string): void };
}

export interface PostgresTls {
  /**
   * disable: plaintext. require: encrypted, the server's certificate not checked (as libpq's
   * sslmode=require; pg itself would read the URL's `require` as verify-full). verify-ca: the
   * certificate must chain to `caFile` (or a system CA). verify-full: and be issued for the host.
   */
  mode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  /** PEM CA bundle for verify-ca / verify-full. */
  caFile?: string | undefined;
}

export type DatabaseTarget =
  | { dialect: 'sqlite' /** absolute path, or ':memory:' */; filename: string }
  | { dialect: 'postgres'; connectionString: string };

const ACCEPTED_FORMS =
  'sqlite:./relative/path.db, sqlite:/absolute/path.db, sqlite::memory:, postgres://… or postgresql://…';
const DEFAULT_POOL_SIZE = 10;
const MAX_POOL_SIZE = 1000;
const HEALTH_TIMEOUT_MS = 5000;
const PG_CONNECT_TIMEOUT_MS = 10_000;
/** pg's own default: long enough to reuse connections across bursts, short enough to give idle ones back. */
const PG_IDLE_TIMEOUT_MS = 10_000;
const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
/** Query parameters through which a URL sets TLS (pg-connection-string reads them). */
const URL_TLS_PARAMETERS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'uselibpqcompat'];
const PG_INT8_OID = 20;
// Quoted into SET/CREATE statements, so only plain identifiers are accepted.
const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Parse a database URL. Error messages name the scheme only: the rest of the URL may carry a
 * password.
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (!match) throw new Error(`database URL has no scheme; use one of ${ACCEPTED_FORMS}`);
  const scheme = (match[1] as string).toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      const path = url.slice(match[0].length);
      if (path === ':memory:') return { dialect: 'sqlite', filename: ':memory:' };
      if (path === '')
        throw new Error(`database URL "sqlite:" needs a file path; use one of ${ACCEPTED_FORMS}`);
      // "sqlite://host/x" or "sqlite:///x" would otherwise resolve to a surprising path.
      if (path.startsWith('//')) {
        throw new Error(`database URL "sqlite://…" is not supported; use one of ${ACCEPTED_FORMS}`);
      }
      return { dialect: 'sqlite', filename: resolve(cwd, path) };
    }
    case 'postgres':
    case 'postgresql':
      return { dialect: 'postgres', connectionString: url };
    default:
      throw new Error(`unsupported database URL scheme "${scheme}:"; use one of ${ACCEPTED_FORMS}`);
  }
}

/** A `sqlite::memory:` database exists only for the connection that opened it. */
export function isInMemoryDatabase(url: string): boolean {
  const target = parseDatabaseUrl(url.trim());
  return target.dialect === 'sqlite' && target.filename === ':memory:';
}

function validateOptions(options: OpenStoreOptions): void {
  if (typeof options.url !== 'string' || options.url.trim() === '') {
    throw new Error('options.url must be a non-empty database URL');
  }
  const { poolSize, schema } = options;
  if (poolSize !== undefined && !(Number.isInteger(poolSize) && poolSize >= 1 && poolSize <= MAX_POOL_SIZE)) {
    throw new Error(`options.poolSize must be an integer between 1 and ${MAX_POOL_SIZE}`);
  }
  for (const field of ['idleTimeoutMs', 'connectTimeoutMs'] as const) {
    const value = options[field];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1))
      throw new Error(`options.${field} must be a positive integer (milliseconds)`);
  }
  const { tls } = options;
  if (tls !== undefined) {
    if (!(TLS_MODES as readonly string[]).includes(tls.mode))
      throw new Error(`options.tls.mode must be one of ${TLS_MODES.join(', ')}`);
    if (tls.caFile !== undefined && tls.mode !== 'verify-ca' && tls.mode !== 'verify-full')
      throw new Error('options.tls.caFile needs options.tls.mode verify-ca or verify-full');
  }
  if (schema !== undefined && !SCHEMA_PATTERN.test(schema)) {
    throw new Error('options.schema must be 1-63 letters, digits or underscores, not starting with a digit');
  }
}

/** Open (but do not migrate) the store named by `options.url`. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  validateOptions(options);
  const target = parseDatabaseUrl(options.url.trim());
  const clock = options.clock ?? systemClock;
  switch (target.dialect) {
    case 'sqlite':
      if (options.schema !== undefined) throw new Error('options.schema applies to PostgreSQL only');
      if (options.tls !== undefined) throw new Error('options.tls applies to PostgreSQL only');
      return new SqlStore(openSqlite(target.filename), sqliteAdapter, clock);
    case 'postgres':
      return new SqlStore(await openPostgres(target.connectionString, options), postgresAdapter, clock);
  }
}

interface OpenedDatabase {
  db: Kysely<Database>;
  /** The SQLite handle itself, for the one hot bulk write that needs a reusable statement. */
  sqlite?: SqliteDatabase.Database;
  /**
   * Frees the driver's resources. Needed besides `db.destroy()`, which does nothing when no
   * query ever ran, leaving the SQLite handle open and letting a later query revive the store.
   */
  release(): Promise<void>;
}

function openSqlite(filename: string): OpenedDatabase {
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true, mode: 0o700 });
  let database: SqliteDatabase.Database;
  try {
    database = new SqliteDatabase(filename);
  } catch (error) {
    throw new Error(`cannot open SQLite database ${filename}: ${(error as Error).message}`, { cause: error });
  }
  try {
    // WAL lets readers (the gateway) proceed while a writer (CLI, admin API) commits;
    // synchronous=NORMAL is durable across application crashes in WAL mode and much faster
    // than FULL; foreign keys are off by default in SQLite.
    database.pragma('journal_mode = WAL');
    database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
  } catch (error) {
    database.close();
    throw new Error(`cannot open SQLite database ${filename}: ${(error as Error).message}`, { cause: error });
  }
  return {
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
    sqlite: database,
    release: async () => {
      if (database.open) database.close();
    },
  };
}

async function openPostgres(connectionString: string, options: OpenStoreOptions): Promise<OpenedDatabase> {
  // Per-pool parsers: changing pg's global parser would alter every other pg user in the process.
  const types = new TypeOverrides();
  // Our bigints are epoch milliseconds and counters, far below 2^53.
  types.setTypeParser(PG_INT8_OID, 'text', (value: string) => Number(value));
  const pool = new Pool({
    connectionString,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeoutMillis: options.idleTimeoutMs ?? PG_IDLE_TIMEOUT_MS,
    // Also bounds the wait for a free connection when all `max` are busy (pg-pool).
    connectionTimeoutMillis: options.connectTimeoutMs ?? PG_CONNECT_TIMEOUT_MS,
    types,
    // Visible in pg_stat_activity; a URL's own application_name wins (pg reads the URL last).
    application_name: 'portcullis',
    ...(options.tls === undefined ? {} : { ssl: postgresSsl(connectionString, options.tls) }),
  });
  // An idle client's error (server restart, network cut) is emitted on the pool; without a
  // listener Node treats it as unhandled and exits.
  pool.on('error', (error) => options.logger?.warn(`PostgreSQL pooled connection failed: ${error.message}`));
  // The pool only listens on idle clients. A connection lost while checked out (mid-transaction,
  // between two queries) emits 'error' on the client itself, which without a listener crashes
  // the process; the query in progress (or the next one) fails on its own and is retried.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.logger?.warn(`PostgreSQL connection lost: ${error.message}`));
  });
  const { schema } = options;
  const setSearchPath = CompiledQuery.raw(`set search_path to "${schema}"`);
  const db = new Kysely<Database>({
    dialect: new StorePostgresDialect({
      pool,
      // Server-side cursors for `.stream()`: exports read a large table in chunks.
      cursor: Cursor,
      onCreateConnection: schema
        ? async (connection) => {
            await connection.executeQuery(setSearchPath);
          }
        : undefined,
    }),
  });
  const release = async () => {
    if (!pool.ending && !pool.ended) await pool.end();
  };
  if (schema) {
    try {
      await db.schema.createSchema(schema).ifNotExists().execute();
    } catch (error) {
      // IF NOT EXISTS still races on PostgreSQL: two creators can both pass the check and one
      // fails on the catalog's unique index. The schema exists either way.
      if (!postgresAdapter.isUniqueViolation(error)) {
        await db.destroy();
        await release();
        throw new Error(`cannot create PostgreSQL schema "${schema}": ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
  }
  return { db, release };
}

/**
 * pg's `ssl` option for a TLS mode. The URL must not set TLS as well: pg lets the URL's
 * parameters override this option, so the setting would silently lose.
 */
function postgresSsl(connectionString: string, tls: PostgresTls): false | ConnectionOptions {
  let parameters: URLSearchParams;
  try {
    parameters = new URL(connectionString).searchParams;
  } catch {
    parameters = new URLSearchParams();
  }
  const clash = URL_TLS_PARAMETERS.find((name) => parameters.has(name));
  if (clash !== undefined)
    throw new Error(`options.tls is set but the database URL sets TLS too (${clash}=…): set it in one place`);
  if (tls.mode === 'disable') return false;
  // Encrypted against eavesdropping only: an active attacker can present any certificate.
  if (tls.mode === 'require') return { rejectUnauthorized: false };
  const ssl: ConnectionOptions = { rejectUnauthorized: true };
  if (tls.caFile !== undefined) ssl.ca = readPem(tls.caFile, 'PostgreSQL CA', 'CERTIFICATE');
  // verify-ca: the chain is checked, the name is not (libpq's meaning).
  if (tls.mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
  return ssl;
}

class SqlStore implements Store {
  readonly dialect: StoreDialect;
  readonly capabilities: StoreCapabilities;
  readonly db: Kysely<Database>;
  readonly routes: RouteRepository;
  readonly meta: MetaRepository;
  readonly clients: ClientRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly grants: GrantRepository;
  readonly hmacSecrets: HmacSecretRepository;
  readonly jwtProviders: JwtProviderRepository;
  readonly serviceTokens: ServiceTokenRepository;
  readonly policies: PolicyRepository;
  readonly blocks: BlockRepository;
  readonly bindings: BindingRepository;
  readonly intercepts: InterceptRepository;
  readonly alertDeliveries: AlertDeliveryRepository;
  readonly requestLogs: RequestLogRepository;
  readonly auditLog: AuditLogRepository;
  readonly usage: UsageRepository;
  readonly adminUsers: AdminUserRepository;
  readonly adminSessions: AdminSessionRepository;
  readonly liveSettings: LiveSettingsRepository;
  readonly anomalies: AnomalyRepository;
  readonly #adapter: DialectAdapter;
  readonly #clock: Clock;
  readonly #release: () => Promise<void>;
  #closing: Promise<void> | undefined;

  readonly #sqlite: SqliteDatabase.Database | undefined;
  readonly #changeListeners = new Set<(version: number) => void>();

  constructor({ db, release, sqlite }: OpenedDatabase, adapter: DialectAdapter, clock: Clock) {
    this.db = db;
    this.#release = release;
    this.dialect = adapter.dialect;
    this.capabilities = adapter.capabilities;
    this.#adapter = adapter;
    this.#clock = clock;
    this.#sqlite = sqlite;
    const changes = { bumped: (version: number) => this.#changed(version) };
    const repos = createRepositories({ db, adapter, clock, inTransaction: false, sqlite, changes });
    this.routes = repos.routes;
    this.meta = repos.meta;
    this.clients = repos.clients;
    this.apiKeys = repos.apiKeys;
    this.grants = repos.grants;
    this.hmacSecrets = repos.hmacSecrets;
    this.jwtProviders = repos.jwtProviders;
    this.serviceTokens = repos.serviceTokens;
    this.policies = repos.policies;
    this.blocks = repos.blocks;
    this.bindings = repos.bindings;
    this.intercepts = repos.intercepts;
    this.alertDeliveries = repos.alertDeliveries;
    this.requestLogs = repos.requestLogs;
    this.auditLog = repos.auditLog;
    this.usage = repos.usage;
    this.adminUsers = repos.adminUsers;
    this.adminSessions = repos.adminSessions;
    this.liveSettings = repos.liveSettings;
    this.anomalies = repos.anomalies;
  }

  async write<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    // Changes inside the transaction are announced once, after it commits, with the last version.
    let version: number | undefined;
    const changes = {
      bumped: (v: number) => {
        version = Math.max(version ?? v, v);
      },
    };
    const result = await this.#adapter.transaction(this.db, (trx) =>
      fn(
        createRepositories({
          db: trx,
          adapter: this.#adapter,
          clock: this.#clock,
          inTransaction: true,
          sqlite: this.#sqlite,
          changes,
        }),
      ),
    );
    if (version !== undefined) this.#changed(version);
    return result;
  }

  configVersion(): Promise<number> {
    return readConfigVersion(this.db);
  }

  onConfigChange(listener: (version: number) => void): () => void {
    // Wrapped, so the same function added twice is two listeners removed one at a time.
    const entry = (version: number) => listener(version);
    this.#changeListeners.add(entry);
    return () => void this.#changeListeners.delete(entry);
  }

  #changed(version: number): void {
    for (const listener of this.#changeListeners) {
      try {
        listener(version);
      } catch {
        // A listener's fault must not fail a change that committed.
      }
    }
  }

  migrate(): Promise<MigrationReport> {
    return migrateToLatest(this.db, this.#adapter);
  }

  async health(): Promise<StoreHealth> {
    if (this.#closing) return { ok: false, dialect: this.dialect, error: 'store is closed' };
    const started = this.#clock.monotonic();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)),
        HEALTH_TIMEOUT_MS,
      );
      timer.unref();
    });
    try {
      await Promise.race([sql`select 1`.execute(this.db), timeout]);
      return { ok: true, dialect: this.dialect, latencyMs: this.#clock.monotonic() - started };
    } catch (error) {
      return {
        ok: false,
        dialect: this.dialect,
        error: error instanceof Error ? error.message : String(error),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.db.destroy().finally(this.#release);
    return this.#closing;
  }
}
