/**
 * The configuration-and-records store: one typed SQL layer (Kysely) over SQLite (embedded
 * default) and PostgreSQL (scale-out). Repositories are the only way the rest of the code
 * touches SQL; dialect differences live in `dialect.ts` as capability flags.
 * Every implementation passes the shared suite in test/store/store-contract.ts.
 */
import type { Generated, Kysely } from 'kysely';
import type { PolicySpec } from '../limits/policy.js';
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

/** Live setting overrides (config/live.ts); a change bumps the config version. */
export interface LiveSettingsRepository {
  /** The stored overrides, unparsed (the reader validates them). */
  get(): Promise<Record<string, unknown>>;
  /** Replace all overrides. */
  replace(values: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export interface Repositories {
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
}

// ---- identity (clients, API keys, grants, HMAC secrets, JWT providers, service tokens) ----

export type ClientStatus = 'active' | 'suspended' | 'revoked';

export interface ClientRecord {
  id: string;
  name: string;
  status: ClientStatus;
  /** Why the client was suspended or revoked (shown to admins, never to API callers). */
  statusReason: string | null;
  metadata: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

export interface ClientRepository {
  /** Ordered by id, byte-wise. */
  list(): Promise<ClientRecord[]>;
  /**
   * One page of clients by id (byte-wise), strictly after `after`: at most `limit` (1 to 10000)
   * in one query that the index of migration 0013 serves as a range scan.
   */
  page(options: { after?: string; limit: number }): Promise<ClientRecord[]>;
  get(id: string): Promise<ClientRecord | undefined>;
  /** Throws ConflictError when the id exists. */
  insert(client: { id: string; name: string; metadata: Record<string, string> }): Promise<ClientRecord>;
  /** Throws NotFoundError. Only the given fields change. */
  update(
    id: string,
    patch: Partial<Pick<ClientRecord, 'name' | 'metadata' | 'status' | 'statusReason'>>,
  ): Promise<ClientRecord>;
  /** Removes the client and, in the same transaction, its keys (and their secrets), grants and HMAC secrets. */
  remove(id: string): Promise<boolean>;
}

export type KeyEnvironment = 'live' | 'test';
export type BindingMode = 'off' | 'single' | 'multiple' | 'all';

/**
 * An API key as a lasting identity: its id is the lineage id. Rotation adds a secret to the
 * same key, so rate limits, quota, remaining uses and usage history follow the key, not the
 * secret (PRODUCT.md §5).
 */
export interface ApiKeyRecord {
  id: string;
  clientId: string;
  name: string | null;
  environment: KeyEnvironment;
  scopes: string[];
  /** Epoch ms after which every secret of the key is refused; null = never. */
  expiresAt: number | null;
  /** CIDRs the key may be used from; empty = anywhere. */
  ipAllow: string[];
  /** CIDRs the key may never be used from (checked before the allow-list). */
  ipDeny: string[];
  bindingMode: BindingMode;
  maxIps: number | null;
  /** A `single`/`multiple` binding covers the first IP's network of this length (null: the address). */
  bindPrefixV4: number | null;
  bindPrefixV6: number | null;
  /** Rate-limit policy id overriding the route's, or null. */
  policy: string | null;
  /** Remaining-uses budget as set by an admin (null = unlimited); consumption is counted in hot state. */
  usesBudget: number | null;
  /** Bumped whenever the budget is (re)set, so consumption counters start over. */
  budgetVersion: number;
  /** Uses consumed of the current budget as last flushed from hot state (for display and restarts). */
  usesConsumed: number;
  status: 'active' | 'revoked';
  revokedReason: string | null;
  revokedAt: number | null;
  createdAt: number;
  updatedAt: number;
  lastUsedAt: number | null;
}

export type NewApiKey = Omit<
  ApiKeyRecord,
  | 'createdAt'
  | 'updatedAt'
  | 'lastUsedAt'
  | 'budgetVersion'
  | 'usesConsumed'
  | 'status'
  | 'revokedReason'
  | 'revokedAt'
>;

/** One secret of a key. Only its keyed hash is stored; the plaintext is shown once. */
export interface KeySecretRecord {
  /** Hex HMAC-SHA256 of the full key string under the secret key. Primary key. */
  hash: string;
  keyId: string;
  /** First characters of the key (prefix, environment and a few random ones) for people. */
  displayPrefix: string;
  createdAt: number;
  /** End of validity of this secret (rotation grace period); null = as long as the key. */
  expiresAt: number | null;
}

/**
 * Where a page ordered by creation ended (keys, blocks): the next page starts strictly after
 * this creation time and id.
 */
export interface CreationPosition {
  createdAt: number;
  id: string;
}

export interface ApiKeyRepository {
  /** Ordered by id, byte-wise. */
  list(filter?: { clientId?: string }): Promise<ApiKeyRecord[]>;
  /**
   * One page of the keys matching every given filter, by creation time then id (byte-wise),
   * strictly after `after`: at most `limit` (1 to 10000) keys in one query that an index on
   * (created_at, id), or (client_id, created_at, id) with `clientId`, serves as a range scan.
   * `policy` (keys naming that rate-limit policy) is a filter on that scan, not an index.
   */
  page(options: {
    clientId?: string;
    policy?: string;
    status?: ApiKeyRecord['status'];
    environment?: KeyEnvironment;
    after?: CreationPosition;
    limit: number;
  }): Promise<ApiKeyRecord[]>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Insert a key with its first secret. Throws NotFoundError when the client does not exist. */
  insert(key: NewApiKey, secret: { hash: string; displayPrefix: string }): Promise<ApiKeyRecord>;
  /** Throws NotFoundError. Setting `usesBudget` bumps `budgetVersion` and resets `usesConsumed`. */
  update(
    id: string,
    patch: Partial<
      Pick<
        ApiKeyRecord,
        | 'name'
        | 'scopes'
        | 'expiresAt'
        | 'ipAllow'
        | 'ipDeny'
        | 'bindingMode'
        | 'maxIps'
        | 'bindPrefixV4'
        | 'bindPrefixV6'
        | 'policy'
        | 'usesBudget'
        | 'status'
        | 'revokedReason'
        | 'revokedAt'
      >
    >,
  ): Promise<ApiKeyRecord>;
  /**
   * Rotation: add a new secret to the key and make every current secret without an earlier
   * end expire at `retireAt`. Both in one transaction. Throws NotFoundError.
   */
  rotate(
    keyId: string,
    secret: { hash: string; displayPrefix: string },
    retireAt: number,
  ): Promise<KeySecretRecord>;
  /** By creation time, then hash (byte-wise). */
  secrets(keyId: string): Promise<KeySecretRecord[]>;
  /**
   * The secrets of many keys at once (one query per 1000 ids): every id asked for is in the
   * map, with its secrets in `secrets()` order, or none (an unknown key).
   */
  secretsFor(keyIds: readonly string[]): Promise<Map<string, KeySecretRecord[]>>;
  /** The request-path lookup (on cache miss): the key and the secret a hash belongs to. */
  findByHash(hash: string): Promise<{ key: ApiKeyRecord; secret: KeySecretRecord } | undefined>;
  /** Batched bookkeeping (not a configuration change: does not bump the config version). */
  recordUsage(
    entries: ReadonlyArray<{
      keyId: string;
      lastUsedAt: number;
      usesConsumed?: { budgetVersion: number; value: number };
    }>,
  ): Promise<void>;
}

export interface GrantRecord {
  clientId: string;
  routeId: string;
  /** Upper-case methods, or ['*'] for all the route serves. */
  methods: string[];
  createdAt: number;
}

export interface GrantPosition {
  clientId: string;
  routeId: string;
}

export interface GrantRepository {
  /** Ordered by client id, then route id, byte-wise. */
  list(filter?: { clientId?: string; routeId?: string }): Promise<GrantRecord[]>;
  /**
   * One page of the grants matching the filters, in list() order, strictly after `after`: at
   * most `limit` (1 to 10000) in one query. Migration 0013's indexes serve the unfiltered and
   * the by-route pages; one client's few grants come by the primary key and a sort.
   */
  page(options: {
    clientId?: string;
    routeId?: string;
    after?: GrantPosition;
    limit: number;
  }): Promise<GrantRecord[]>;
  /** Create or replace the grant of a client on a route. Throws NotFoundError when the client is unknown. */
  upsert(grant: { clientId: string; routeId: string; methods: string[] }): Promise<GrantRecord>;
  remove(clientId: string, routeId: string): Promise<boolean>;
}

export interface HmacSecretRecord {
  id: string;
  clientId: string;
  /** AES-256-GCM ciphertext (base64 of iv|tag|data) of the secret under the secret key. */
  ciphertext: string;
  createdAt: number;
  /** End of the overlap after a newer secret was issued; null = current. */
  expiresAt: number | null;
}

export interface HmacSecretRepository {
  list(filter?: { clientId?: string }): Promise<HmacSecretRecord[]>;
  /** Add a secret; every current secret of the client without an earlier end expires at `retireAt`. */
  add(
    secret: { id: string; clientId: string; ciphertext: string },
    retireAt: number,
  ): Promise<HmacSecretRecord>;
  remove(id: string): Promise<boolean>;
}

/** A JWT provider as configured; HS secrets are stored encrypted in `spec.secret_encrypted`. */
export interface JwtProviderRecord {
  id: string;
  /** Validated provider spec (see auth/jwt/spec.ts), stored as JSON. */
  spec: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface JwtProviderRepository {
  list(): Promise<JwtProviderRecord[]>;
  get(id: string): Promise<JwtProviderRecord | undefined>;
  /** Throws ConflictError. */
  insert(id: string, spec: Record<string, unknown>): Promise<JwtProviderRecord>;
  /** Throws NotFoundError. */
  replace(id: string, spec: Record<string, unknown>): Promise<JwtProviderRecord>;
  remove(id: string): Promise<boolean>;
}

export type ServiceTokenRole = 'admin' | 'viewer' | 'verifier';

export interface ServiceTokenRecord {
  id: string;
  name: string;
  role: ServiceTokenRole;
  /** Hex HMAC-SHA256 of the token under the secret key. */
  hash: string;
  displayPrefix: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface ServiceTokenRepository {
  list(): Promise<ServiceTokenRecord[]>;
  insert(
    token: Omit<ServiceTokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'>,
  ): Promise<ServiceTokenRecord>;
  findByHash(hash: string): Promise<ServiceTokenRecord | undefined>;
  revoke(id: string): Promise<boolean>;
  /** Bookkeeping; does not bump the config version. */
  touch(id: string, at: number): Promise<void>;
}

// ---- rate limits ----

/** A rate-limit policy; the spec was validated (limits/policy.ts) before it was stored. */
export interface PolicyRecord {
  id: string;
  spec: PolicySpec;
  createdAt: number;
  updatedAt: number;
}

export interface PolicyRepository {
  list(): Promise<PolicyRecord[]>;
  get(id: string): Promise<PolicyRecord | undefined>;
  /** Throws ConflictError when `spec.id` exists. */
  insert(spec: PolicySpec): Promise<PolicyRecord>;
  /** Replaces the whole spec, keeps createdAt. Throws NotFoundError when absent. */
  replace(spec: PolicySpec): Promise<PolicyRecord>;
  /** Returns false when there was nothing to remove. */
  remove(id: string): Promise<boolean>;
}

// ---- IP controls (blocklist, key bindings, intercepts) and alert deliveries ----

export type BlockKind = 'ip' | 'key' | 'client' | 'user';
export type BlockSource = 'manual' | 'anomaly' | 'threshold';

export interface BlockRecord {
  id: string;
  kind: BlockKind;
  /** An IP or CIDR (normalized), a key id, a client id or a user id. */
  value: string;
  reason: string;
  source: BlockSource;
  createdAt: number;
  /** Epoch ms when the block lifts by itself; null = until removed. */
  expiresAt: number | null;
}

export interface BlockRepository {
  /** Every entry, expired ones included unless `activeAt` is given. */
  list(filter?: { kind?: BlockKind; activeAt?: number }): Promise<BlockRecord[]>;
  /**
   * One page of the entries matching every given filter, by creation time then id (byte-wise),
   * strictly after `after`: at most `limit` (1 to 10000) entries in one query that an index on
   * (created_at, id), or (kind, created_at, id) with `kind`, serves as a range scan.
   * `activeAt`: only entries in force then (no expiry, or a later one); `expiredAt`: only
   * entries whose expiry is at or before it.
   */
  page(options: {
    kind?: BlockKind;
    source?: BlockSource;
    activeAt?: number;
    expiredAt?: number;
    after?: CreationPosition;
    limit: number;
  }): Promise<BlockRecord[]>;
  get(id: string): Promise<BlockRecord | undefined>;
  /** The entry for this kind and value, in force or expired (there is at most one). */
  find(kind: BlockKind, value: string): Promise<BlockRecord | undefined>;
  /** Add, or replace the entry for the same kind and value (reason, source, expiry). */
  upsert(block: Omit<BlockRecord, 'id' | 'createdAt'> & { id: string }): Promise<BlockRecord>;
  remove(id: string): Promise<boolean>;
  removeFor(kind: BlockKind, value: string): Promise<boolean>;
  /** Delete entries that expired before `before` (housekeeping; not a configuration change). */
  pruneExpired(before: number): Promise<number>;
  /** How many entries are in force at `at` (counted in the database). */
  countActive(at: number): Promise<number>;
}

export type BindingSource = 'first_use' | 'admin';

export interface BindingRecord {
  id: string;
  keyId: string;
  /** 0..N-1 for `single`/`multiple` bindings; null for `all` (record-only) entries. */
  slot: number | null;
  /** The bound address as a CIDR (`/32` or `/128` for one address). */
  cidr: string;
  source: BindingSource;
  createdAt: number;
  lastSeenAt: number;
}

export interface ArchivedBindingRecord extends Omit<BindingRecord, 'slot'> {
  archivedAt: number;
}

/** Where a page of bindings ended: the next page starts strictly after this binding's place. */
export interface BindingPosition {
  keyId: string;
  createdAt: number;
  id: string;
}

export interface BindingRepository {
  /** By key, then creation time, then id (key and id compared byte-wise on every database). */
  list(filter?: { keyId?: string }): Promise<BindingRecord[]>;
  /**
   * One page in `list()` order, strictly after `after`: at most `limit` (1 to 10000) bindings
   * in one query that an index on (key_id, created_at, id) serves as a range scan.
   */
  page(options: { keyId?: string; after?: BindingPosition; limit: number }): Promise<BindingRecord[]>;
  /**
   * First-use claim: insert unless the slot (or this CIDR) is taken for the key. Returns true
   * when this call created the binding. Not a configuration change (first use happens on the
   * request path); the unique indexes make concurrent claims from several instances agree.
   */
  claim(binding: BindingRecord): Promise<boolean>;
  /** Admin change: replace every binding of the key with these CIDRs (slots 0..n-1). */
  replace(
    keyId: string,
    cidrs: readonly string[],
    at: number,
    ids: readonly string[],
  ): Promise<BindingRecord[]>;
  /** Admin change: remove every binding of the key (the next request binds again). */
  removeAll(keyId: string): Promise<number>;
  /** Batched bookkeeping (not a configuration change). */
  touch(entries: ReadonlyArray<{ id: string; lastSeenAt: number }>): Promise<void>;
  /** Move bindings unused since `before` to the archive; returns how many moved. */
  archiveUnusedSince(before: number, at: number): Promise<number>;
  archived(filter?: { keyId?: string }): Promise<ArchivedBindingRecord[]>;
  /** Delete archived bindings archived before `before` (retention). */
  pruneArchive(before: number): Promise<number>;
}

export interface InterceptRecord {
  id: string;
  at: number;
  keyId: string;
  clientId: string | null;
  /** The offending client IP. */
  ip: string;
  /** The CIDRs the key was bound to at the time. */
  bound: string[];
  routeId: string | null;
  method: string;
  path: string;
  requestId: string;
}

/** Which intercepts a list, stream or count takes (all fields applied in SQL). */
export interface InterceptRecordFilter {
  keyId?: string;
  routeId?: string;
  /** Inclusive. */
  since?: number;
  /** Exclusive. */
  until?: number;
}

/** Where a page of intercepts ended: the last one's time and id. */
export interface InterceptPosition {
  at: number;
  id: string;
}

export interface InterceptRepository {
  insert(intercept: InterceptRecord): Promise<void>;
  /**
   * Newest first: by time, then by id (byte-wise), both descending. With `before`, only the
   * intercepts after that position in this order (a keyset page).
   */
  list(
    filter?: InterceptRecordFilter & { before?: InterceptPosition; limit?: number },
  ): Promise<InterceptRecord[]>;
  /** Every matching intercept, oldest first, read in chunks. */
  stream(filter?: InterceptRecordFilter): AsyncIterable<InterceptRecord>;
  /** How many intercepts match (counted in the database). */
  count(filter?: InterceptRecordFilter): Promise<number>;
  /** Delete intercepts older than `before` (retention). */
  prune(before: number): Promise<number>;
}

export interface AlertDeliveryRecord {
  id: string;
  alertId: string;
  kind: string;
  /** The webhook URL without credentials. */
  url: string;
  status: 'delivered' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  finishedAt: number;
}

export interface AlertDeliveryRepository {
  insert(delivery: AlertDeliveryRecord): Promise<void>;
  list(filter?: { alertId?: string; limit?: number }): Promise<AlertDeliveryRecord[]>;
  /** Delete deliveries older than `before` (retention). */
  prune(before: number): Promise<number>;
}

// ---- anomalies (PRODUCT.md §10) ----

export type AnomalyIdentityKind = 'key' | 'client' | 'user' | 'ip';
export type AnomalyStatus = 'open' | 'resolved';
/** What the detector did: recorded only (rule `record` or shadow mode), alerted, or blocked (and alerted). */
export type AnomalyAction = 'recorded' | 'shadow' | 'alerted' | 'blocked';

export interface AnomalyRecord {
  id: string;
  signal: string;
  identityKind: AnomalyIdentityKind;
  /** The key id, client id, user id, or the IP (an IPv6 /64 as a CIDR). */
  identity: string;
  /** Start of the interval the finding was made in (epoch ms). */
  bucketStart: number;
  intervalMs: number;
  detectedAt: number;
  /** Last interval this incident was seen in (a later finding within the cooldown lands here). */
  lastSeenAt: number;
  /** Findings folded into this incident (1 at first). */
  occurrences: number;
  score: number;
  observed: number;
  expected: number;
  explanation: string;
  /** Observed vs expected figures and the recent series, for people and charts. */
  evidence: Record<string, unknown>;
  action: AnomalyAction;
  blockId: string | null;
  blockExpiresAt: number | null;
  alertId: string | null;
  status: AnomalyStatus;
  resolvedAt: number | null;
  resolvedBy: string | null;
  resolutionNote: string | null;
}

export interface AnomalyRepository {
  insert(anomaly: AnomalyRecord): Promise<void>;
  get(id: string): Promise<AnomalyRecord | undefined>;
  /** Newest first; `before` continues after the last record of a previous page. */
  list(filter?: {
    status?: AnomalyStatus;
    signal?: string;
    identityKind?: AnomalyIdentityKind;
    identity?: string;
    since?: number;
    until?: number;
    before?: { detectedAt: number; id: string };
    limit?: number;
  }): Promise<AnomalyRecord[]>;
  /** Fold a later finding of the same incident in (one incident, one alert). */
  recur(
    id: string,
    seen: { at: number; observed: number; score: number; block?: { id: string; expiresAt: number | null } },
  ): Promise<void>;
  /** Mark resolved; undefined when there is no such anomaly, the record unchanged when already resolved. */
  resolve(
    id: string,
    by: { at: number; actor: string; note: string | null },
  ): Promise<AnomalyRecord | undefined>;
  /** Delete anomalies detected before `before` (retention). */
  prune(before: number): Promise<number>;
  /** How many anomalies there are (with that status), counted in the database. */
  count(filter?: { status?: AnomalyStatus }): Promise<number>;
}

// ---- telemetry ----

export type RecordDecision = 'allowed' | 'denied' | 'error';

/** One decision as recorded (PRODUCT.md §9). The path has no query string (it may hold secrets). */
export interface RequestLogRecord {
  at: number;
  requestId: string;
  door: 'gateway' | 'forward_auth' | 'verify';
  routeId: string | null;
  method: string;
  path: string;
  status: number;
  totalMs: number;
  upstreamMs: number | null;
  clientId: string | null;
  keyId: string | null;
  userId: string | null;
  ip: string;
  decision: RecordDecision;
  /** The catalog code of a refusal or error; null when allowed. */
  code: string | null;
  /** Declared request body size (Content-Length), when known. */
  bytesIn: number | null;
  bytesOut: number;
}

export interface RequestLogFilter {
  since?: number;
  until?: number;
  keyId?: string;
  clientId?: string;
  routeId?: string;
  status?: number;
  decision?: RecordDecision;
  door?: RequestLogRecord['door'];
  /** The catalog code of a refusal or error. */
  code?: string;
  ip?: string;
  limit?: number;
}

/**
 * What `UsageRepository.stats` summarises: the minutes starting in [since, until), optionally of
 * one key or route.
 */
export interface RequestStatsFilter {
  since: number;
  until: number;
  keyId?: string;
  routeId?: string;
}

export interface RequestStatsOptions {
  /** Length of each ranked list (a positive integer). */
  top: number;
}

/** The requests of one minute, by decision, with their latency histogram. */
export interface RequestStatsBucket {
  /** Start of the minute (epoch ms). */
  at: number;
  allowed: number;
  denied: number;
  errored: number;
  /** Requests per latency bucket, as `UsageIncrement.latency`. */
  latency: number[];
}

/** Counts computed in the database (GROUP BY over minute roll-ups), nothing per row in memory. */
export interface RequestStats {
  /** Only minutes holding requests, oldest first. */
  buckets: RequestStatsBucket[];
  /** Refusals (decision `denied`) by catalog code, most first. */
  deniedByCode: Array<{ code: string; count: number }>;
  topKeys: Array<{ keyId: string; count: number }>;
  topRoutes: Array<{ routeId: string; count: number }>;
}

export interface RequestLogRepository {
  /** Insert a batch in one transaction (all or nothing). */
  insertBatch(records: readonly RequestLogRecord[]): Promise<void>;
  /** Newest first. */
  list(filter?: RequestLogFilter): Promise<RequestLogRecord[]>;
  count(filter?: RequestLogFilter): Promise<number>;
  /** Every matching record, oldest first, read in chunks (exports: memory stays bounded). */
  stream(filter?: RequestLogFilter): AsyncIterable<RequestLogRecord>;
  /** Delete records older than `before` (retention). */
  prune(before: number): Promise<number>;
}

export interface AuditRecord {
  id: string;
  at: number;
  /** Who: an OS user name for the CLI, an admin user or token name for the API, `system`. */
  actor: string;
  /** Where from: `cli`, or the admin API caller's IP. */
  source: string;
  /** `<repository>.<operation>`, e.g. `clients.update`. */
  action: string;
  targetType: string;
  targetId: string;
  /** Redacted snapshots (no secret or hash ever); null when there is none. */
  before: unknown;
  after: unknown;
}

export interface AuditLogRepository {
  insert(entry: AuditRecord): Promise<void>;
  /** Newest first. */
  list(filter?: {
    since?: number;
    until?: number;
    actor?: string;
    action?: string;
    targetType?: string;
    targetId?: string;
    limit?: number;
  }): Promise<AuditRecord[]>;
}

export type UsageGranularity = 'minute' | 'hour' | 'day';

/** Additive counts for one bucket and one combination of dimensions ('' = absent). */
export interface UsageIncrement {
  granularity: UsageGranularity;
  bucket: number;
  keyId: string;
  clientId: string;
  routeId: string;
  statusClass: string;
  code: string;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /**
   * Requests per latency bucket (`DURATION_BUCKETS_MS`, telemetry/latency-buckets.ts): index i
   * counts total_ms in (bound i−1, bound i] (from 0 for the first), the last index those above
   * the last bound. All zeros for requests rolled up before migration 0009.
   */
  latency: number[];
}

export interface UsageRepository {
  /** Add these counts (inside the caller's transaction when given repositories of `store.write`). */
  add(increments: readonly UsageIncrement[]): Promise<void>;
  rows(filter: {
    granularity: UsageGranularity;
    keyId?: string;
    clientId?: string;
    since: number;
    until?: number;
  }): Promise<UsageIncrement[]>;
  /**
   * The dashboard's figures from the minute rows: requests per minute by decision with their
   * latency histograms, refusals by code, top keys and routes.
   */
  stats(filter: RequestStatsFilter, options: RequestStatsOptions): Promise<RequestStats>;
  /** Delete rows of a granularity older than `before` (retention). */
  prune(granularity: UsageGranularity, before: number): Promise<number>;
}

// ---- admin users and their login sessions ----

export type AdminRole = 'admin' | 'viewer';

/** A person who logs in to the admin API and console. */
export interface AdminUserRecord {
  id: string;
  /** Stored lower-cased; unique. */
  username: string;
  /** `scrypt$…` encoding (admin/auth/passwords.ts); never leaves the server, never audited. */
  passwordHash: string;
  role: AdminRole;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number;
}

export interface AdminUserRepository {
  /** Ordered by username, byte-wise. */
  list(): Promise<AdminUserRecord[]>;
  get(id: string): Promise<AdminUserRecord | undefined>;
  /** Case-insensitive: the name is lower-cased before the lookup, as it was when stored. */
  getByUsername(username: string): Promise<AdminUserRecord | undefined>;
  count(): Promise<number>;
  /** Throws ConflictError when the id or the (lower-cased) username exists. */
  insert(user: {
    id: string;
    username: string;
    passwordHash: string;
    role: AdminRole;
    disabled?: boolean;
  }): Promise<AdminUserRecord>;
  /**
   * Throws NotFoundError. Only the given fields change; a new `passwordHash` also sets
   * `passwordChangedAt`. Sessions are left alone: ending them is the caller's decision
   * (`adminSessions.revokeForUser`), as it may keep the session that made the change.
   */
  update(
    id: string,
    patch: { passwordHash?: string; role?: AdminRole; disabled?: boolean },
  ): Promise<AdminUserRecord>;
  /** Removes the user and, in the same statement, every session of theirs. */
  remove(id: string): Promise<boolean>;
}

export interface AdminSessionRecord {
  id: string;
  userId: string;
  /** Keyed hash of the session token (core/crypto.ts credentialHash); the token is never stored. */
  tokenHash: string;
  createdAt: number;
  /** Epoch ms from which the session is no longer valid. */
  expiresAt: number;
  lastSeenAt: number;
  /** The client IP at login. */
  ip: string;
  userAgent: string | null;
}

/**
 * Login sessions. Every operation is bookkeeping: none bumps the config version (gateways have
 * nothing to reload) and none is audited (the HTTP layer audits logins and logouts itself).
 */
export interface AdminSessionRepository {
  /**
   * createdAt and lastSeenAt are the store clock's now. Throws NotFoundError when the user does
   * not exist, ConflictError when the id or the token hash exists.
   */
  insert(session: Omit<AdminSessionRecord, 'createdAt' | 'lastSeenAt'>): Promise<AdminSessionRecord>;
  /** Expired sessions are returned too: checking `expiresAt` is the caller's job. */
  findByTokenHash(tokenHash: string): Promise<AdminSessionRecord | undefined>;
  /** lastSeenAt only moves forward; an absent session is ignored. */
  touch(id: string, at: number): Promise<void>;
  /** Deletes the session; false when there was none. */
  revoke(id: string): Promise<boolean>;
  /** Deletes every session of the user; returns how many. */
  revokeForUser(userId: string): Promise<number>;
  /** Deletes sessions whose `expiresAt` is at or before `now`; returns how many. */
  pruneExpired(now: number): Promise<number>;
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
  /**
   * Call `listener` with the new config version after each committed transaction of this
   * store handle that changed configuration (once per transaction, never for one rolled back,
   * never for bookkeeping). Changes other processes make are not seen here: gateways hear of
   * them on the state bus, or through the version poll. Returns a function removing the listener.
   */
  onConfigChange(listener: (version: number) => void): () => void;
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

/** JSON columns (`metadata`, `scopes`, `ip_allow`, `methods`, `spec`) hold JSON text. */
export interface ClientsTable {
  id: string;
  name: string;
  status: ClientStatus;
  status_reason: string | null;
  metadata: string;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  client_id: string;
  name: string | null;
  environment: KeyEnvironment;
  scopes: string;
  expires_at: number | null;
  ip_allow: string;
  ip_deny: Generated<string>;
  binding_mode: BindingMode;
  max_ips: number | null;
  bind_prefix_v4: number | null;
  bind_prefix_v6: number | null;
  policy: string | null;
  uses_budget: number | null;
  budget_version: Generated<number>;
  uses_consumed: Generated<number>;
  status: ApiKeyRecord['status'];
  revoked_reason: string | null;
  revoked_at: number | null;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
}

export interface ApiKeySecretsTable {
  hash: string;
  key_id: string;
  display_prefix: string;
  created_at: number;
  expires_at: number | null;
}

export interface GrantsTable {
  client_id: string;
  route_id: string;
  methods: string;
  created_at: number;
}

export interface HmacSecretsTable {
  id: string;
  client_id: string;
  ciphertext: string;
  created_at: number;
  expires_at: number | null;
}

export interface JwtProvidersTable {
  id: string;
  spec: string;
  created_at: number;
  updated_at: number;
}

export interface ServiceTokensTable {
  id: string;
  name: string;
  role: ServiceTokenRole;
  hash: string;
  display_prefix: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface PoliciesTable {
  id: string;
  spec: string;
  created_at: number;
  updated_at: number;
}

export interface BlocksTable {
  id: string;
  kind: BlockKind;
  value: string;
  reason: string;
  source: BlockSource;
  created_at: number;
  expires_at: number | null;
}

export interface KeyBindingsTable {
  id: string;
  key_id: string;
  slot: number | null;
  cidr: string;
  source: BindingSource;
  created_at: number;
  last_seen_at: number;
}

export interface KeyBindingsArchiveTable {
  id: string;
  key_id: string;
  cidr: string;
  source: BindingSource;
  created_at: number;
  last_seen_at: number;
  archived_at: number;
}

export interface InterceptsTable {
  id: string;
  at: number;
  key_id: string;
  client_id: string | null;
  ip: string;
  bound: string;
  route_id: string | null;
  method: string;
  path: string;
  request_id: string;
}

export interface AlertDeliveriesTable {
  id: string;
  alert_id: string;
  kind: string;
  url: string;
  status: 'delivered' | 'failed';
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number;
}

export interface AnomaliesTable {
  id: string;
  signal: string;
  identity_kind: AnomalyIdentityKind;
  identity: string;
  bucket_start: number;
  interval_ms: number;
  detected_at: number;
  last_seen_at: number;
  occurrences: number;
  score: number;
  observed: number;
  expected: number;
  explanation: string;
  evidence: string;
  action: AnomalyAction;
  block_id: string | null;
  block_expires_at: number | null;
  alert_id: string | null;
  status: AnomalyStatus;
  resolved_at: number | null;
  resolved_by: string | null;
  resolution_note: string | null;
}

export interface RequestLogsTable {
  at: number;
  request_id: string;
  door: RequestLogRecord['door'];
  route_id: string | null;
  method: string;
  path: string;
  status: number;
  total_ms: number;
  upstream_ms: number | null;
  client_id: string | null;
  key_id: string | null;
  user_id: string | null;
  ip: string;
  decision: RecordDecision;
  code: string | null;
  bytes_in: number | null;
  bytes_out: number;
}

export interface AuditLogTable {
  id: string;
  at: number;
  actor: string;
  source: string;
  action: string;
  target_type: string;
  target_id: string;
  before: string | null;
  after: string | null;
}

/** The latency histogram columns of `usage_rollups` (migration 0009), in bound order. */
export type UsageLatencyColumn =
  | 'ms_le_0_5'
  | 'ms_le_1'
  | 'ms_le_2_5'
  | 'ms_le_5'
  | 'ms_le_10'
  | 'ms_le_25'
  | 'ms_le_50'
  | 'ms_le_100'
  | 'ms_le_250'
  | 'ms_le_500'
  | 'ms_le_1000'
  | 'ms_le_2500'
  | 'ms_le_5000'
  | 'ms_le_10000'
  | 'ms_gt_10000';

export interface UsageRollupsTable extends Record<UsageLatencyColumn, number> {
  granularity: UsageGranularity;
  bucket: number;
  key_id: string;
  client_id: string;
  route_id: string;
  status_class: string;
  code: string;
  requests: number;
  bytes_in: number;
  bytes_out: number;
}

/** `disabled` is 0/1 (integer in both dialects). */
export interface AdminUsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: AdminRole;
  disabled: number;
  created_at: number;
  updated_at: number;
  password_changed_at: number;
}

export interface AdminSessionsTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  ip: string;
  user_agent: string | null;
}

export interface Database {
  meta: MetaTable;
  routes: RoutesTable;
  clients: ClientsTable;
  api_keys: ApiKeysTable;
  api_key_secrets: ApiKeySecretsTable;
  grants: GrantsTable;
  hmac_secrets: HmacSecretsTable;
  jwt_providers: JwtProvidersTable;
  service_tokens: ServiceTokensTable;
  policies: PoliciesTable;
  blocks: BlocksTable;
  key_bindings: KeyBindingsTable;
  key_bindings_archive: KeyBindingsArchiveTable;
  intercepts: InterceptsTable;
  alert_deliveries: AlertDeliveriesTable;
  request_logs: RequestLogsTable;
  audit_log: AuditLogTable;
  usage_rollups: UsageRollupsTable;
  admin_users: AdminUsersTable;
  admin_sessions: AdminSessionsTable;
  anomalies: AnomaliesTable;
}
