import { type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type {
  ApiKeyRecord,
  ApiKeyRepository,
  ApiKeySecretsTable,
  ApiKeysTable,
  Database,
  KeySecretRecord,
  NewApiKey,
} from '../types.js';
import { applyChange, inTransaction, type RepositoryContext } from './context.js';
import { checkPageLimit, fromJson, mapUniqueViolation, numberOrNull, toJson, withClient } from './rows.js';

type ApiKeyPatch = Parameters<ApiKeyRepository['update']>[1];

/**
 * Key ids per `secretsFor` statement: a whole admin API page (at most 1000 keys) in one query,
 * far below either database's limit on bound parameters.
 */
const SECRETS_CHUNK = 1000;

/**
 * After a binding mode or size change, in the same transaction: an enforcing mode keeps only
 * the slots it has (0..capacity-1), so rows recorded by `all` or slots beyond a lowered
 * `max_ips` can neither let an address in nor block its re-binding. `all` and `off` keep
 * everything (turning binding back on enforces what was bound).
 */
async function dropIncompatibleBindings(
  db: Kysely<Database>,
  keyId: string,
  mode: ApiKeysTable['binding_mode'],
  maxIps: number | null,
): Promise<void> {
  if (mode !== 'single' && mode !== 'multiple') return;
  const capacity = mode === 'single' ? 1 : (maxIps ?? 1);
  await db
    .deleteFrom('key_bindings')
    .where('key_id', '=', keyId)
    .where((eb) => eb.or([eb('slot', 'is', null), eb('slot', '>=', capacity)]))
    .execute();
}

function toKey(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    name: row.name,
    environment: row.environment,
    scopes: fromJson<string[]>(row.scopes),
    expiresAt: numberOrNull(row.expires_at),
    ipAllow: fromJson<string[]>(row.ip_allow),
    ipDeny: fromJson<string[]>(row.ip_deny),
    bindingMode: row.binding_mode,
    maxIps: numberOrNull(row.max_ips),
    bindPrefixV4: numberOrNull(row.bind_prefix_v4),
    bindPrefixV6: numberOrNull(row.bind_prefix_v6),
    policy: row.policy,
    usesBudget: numberOrNull(row.uses_budget),
    budgetVersion: Number(row.budget_version),
    usesConsumed: Number(row.uses_consumed),
    status: row.status,
    revokedReason: row.revoked_reason,
    revokedAt: numberOrNull(row.revoked_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    lastUsedAt: numberOrNull(row.last_used_at),
  };
}

function toSecret(row: Selectable<ApiKeySecretsTable>): KeySecretRecord {
  return {
    hash: row.hash,
    keyId: row.key_id,
    displayPrefix: row.display_prefix,
    createdAt: Number(row.created_at),
    expiresAt: numberOrNull(row.expires_at),
  };
}

/** The hash identifies a secret but is not shown: errors name the display prefix instead. */
function secretConflict(displayPrefix: string): ConflictError {
  return new ConflictError(
    'api key secret',
    displayPrefix,
    'an API key secret with this hash already exists',
  );
}

/**
 * API keys and their secrets. A key is a lasting identity; rotation adds a secret to it and
 * retires the others after a grace period. Usage bookkeeping (`recordUsage`) is not a
 * configuration change and does not bump the config version.
 */
export class SqlApiKeyRepository implements ApiKeyRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(filter: { clientId?: string } = {}): Promise<ApiKeyRecord[]> {
    let query = this.#db.selectFrom('api_keys').selectAll();
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    const rows = await query.orderBy(this.#ctx.adapter.binaryOrder('id')).execute();
    return rows.map(toKey);
  }

  async page(options: Parameters<ApiKeyRepository['page']>[0]): Promise<ApiKeyRecord[]> {
    const { clientId, policy, status, environment, after, limit } = options;
    checkPageLimit(limit);
    const byteWise = (column: string) => this.#ctx.adapter.binaryOrder(column);
    let query = this.#db.selectFrom('api_keys').selectAll();
    if (clientId !== undefined) query = query.where('client_id', '=', clientId);
    if (policy !== undefined) query = query.where('policy', '=', policy);
    if (status !== undefined) query = query.where('status', '=', status);
    if (environment !== undefined) query = query.where('environment', '=', environment);
    if (after !== undefined) {
      // A row-value comparison in the ORDER BY's own collations, so the index on
      // ([client_id,] created_at, id) starts its range scan at the cursor (migration 0011).
      query = query.where(
        sql<boolean>`(${sql.ref('created_at')}, ${byteWise('id')}) > (${after.createdAt}, ${after.id})`,
      );
    }
    const rows = await query.orderBy('created_at').orderBy(byteWise('id')).limit(limit).execute();
    return rows.map(toKey);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toKey(row);
  }

  insert(key: NewApiKey, secret: { hash: string; displayPrefix: string }): Promise<ApiKeyRecord> {
    return applyChange(this.#ctx, (db) =>
      withClient(this.#ctx, db, key.clientId, async () => {
        const now = this.#ctx.clock.now();
        const row = await mapUniqueViolation(
          this.#ctx,
          () =>
            db
              .insertInto('api_keys')
              .values({
                id: key.id,
                client_id: key.clientId,
                name: key.name,
                environment: key.environment,
                scopes: toJson(key.scopes),
                expires_at: key.expiresAt,
                ip_allow: toJson(key.ipAllow),
                ip_deny: toJson(key.ipDeny),
                binding_mode: key.bindingMode,
                max_ips: key.maxIps,
                bind_prefix_v4: key.bindPrefixV4,
                bind_prefix_v6: key.bindPrefixV6,
                policy: key.policy,
                uses_budget: key.usesBudget,
                budget_version: 0,
                uses_consumed: 0,
                status: 'active',
                revoked_reason: null,
                revoked_at: null,
                created_at: now,
                updated_at: now,
                last_used_at: null,
              })
              .onConflict((oc) => oc.column('id').doNothing())
              .returningAll()
              .executeTakeFirst(),
          () => new ConflictError('api key', key.id),
        );
        if (!row) throw new ConflictError('api key', key.id);
        const added = await this.#insertSecret(db, key.id, secret, now);
        if (!added) {
          // Undo the key row ourselves: inside a `store.write` whose caller catches the
          // ConflictError the transaction goes on, and a key without a secret must not be kept.
          await db.deleteFrom('api_keys').where('id', '=', key.id).execute();
          throw secretConflict(secret.displayPrefix);
        }
        return { changed: true, value: toKey(row) };
      }),
    );
  }

  update(id: string, patch: ApiKeyPatch): Promise<ApiKeyRecord> {
    return applyChange(this.#ctx, async (db) => {
      const values: Updateable<ApiKeysTable> = {};
      if (patch.name !== undefined) values.name = patch.name;
      if (patch.scopes !== undefined) values.scopes = toJson(patch.scopes);
      if (patch.expiresAt !== undefined) values.expires_at = patch.expiresAt;
      if (patch.ipAllow !== undefined) values.ip_allow = toJson(patch.ipAllow);
      if (patch.ipDeny !== undefined) values.ip_deny = toJson(patch.ipDeny);
      if (patch.bindingMode !== undefined) values.binding_mode = patch.bindingMode;
      if (patch.maxIps !== undefined) values.max_ips = patch.maxIps;
      if (patch.bindPrefixV4 !== undefined) values.bind_prefix_v4 = patch.bindPrefixV4;
      if (patch.bindPrefixV6 !== undefined) values.bind_prefix_v6 = patch.bindPrefixV6;
      if (patch.policy !== undefined) values.policy = patch.policy;
      if (patch.status !== undefined) values.status = patch.status;
      if (patch.revokedReason !== undefined) values.revoked_reason = patch.revokedReason;
      if (patch.revokedAt !== undefined) values.revoked_at = patch.revokedAt;
      // (Re)setting the budget, even to the same value, starts consumption over; hot-state
      // counters are keyed by the version so older ones stop counting.
      const resetBudget = patch.usesBudget !== undefined;
      if (patch.usesBudget !== undefined) {
        values.uses_budget = patch.usesBudget;
        values.uses_consumed = 0;
      }
      if (Object.keys(values).length === 0) {
        const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new NotFoundError('api key', id);
        return { changed: false, value: toKey(row) };
      }
      const row = await db
        .updateTable('api_keys')
        .set({
          ...values,
          ...(resetBudget ? { budget_version: sql<number>`budget_version + 1` } : {}),
          updated_at: this.#ctx.clock.now(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('api key', id);
      if (patch.bindingMode !== undefined || patch.maxIps !== undefined) {
        await dropIncompatibleBindings(db, row.id, row.binding_mode, numberOrNull(row.max_ips));
      }
      return { changed: true, value: toKey(row) };
    });
  }

  rotate(
    keyId: string,
    secret: { hash: string; displayPrefix: string },
    retireAt: number,
  ): Promise<KeySecretRecord> {
    return applyChange(this.#ctx, async (db) => {
      const key = await db.selectFrom('api_keys').select('id').where('id', '=', keyId).executeTakeFirst();
      if (!key) throw new NotFoundError('api key', keyId);
      const now = this.#ctx.clock.now();
      // Insert first: a conflict then throws before anything changed.
      let added: Selectable<ApiKeySecretsTable> | undefined;
      try {
        added = await this.#insertSecret(db, keyId, secret, now);
      } catch (error) {
        // The key was removed concurrently (PostgreSQL; SQLite writers are serialised).
        if (this.#ctx.adapter.isForeignKeyViolation(error)) throw new NotFoundError('api key', keyId);
        throw error;
      }
      if (!added) throw secretConflict(secret.displayPrefix);
      await db
        .updateTable('api_key_secrets')
        .set({ expires_at: retireAt })
        .where('key_id', '=', keyId)
        .where('hash', '!=', secret.hash)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', retireAt)]))
        .execute();
      return { changed: true, value: toSecret(added) };
    });
  }

  async secrets(keyId: string): Promise<KeySecretRecord[]> {
    const rows = await this.#db
      .selectFrom('api_key_secrets')
      .selectAll()
      .where('key_id', '=', keyId)
      .orderBy('created_at')
      .orderBy(this.#ctx.adapter.binaryOrder('hash'))
      .execute();
    return rows.map(toSecret);
  }

  async secretsFor(keyIds: readonly string[]): Promise<Map<string, KeySecretRecord[]>> {
    const ids = [...new Set(keyIds)];
    const byKey = new Map<string, KeySecretRecord[]>(ids.map((id) => [id, []]));
    for (let i = 0; i < ids.length; i += SECRETS_CHUNK) {
      const rows = await this.#db
        .selectFrom('api_key_secrets')
        .selectAll()
        .where('key_id', 'in', ids.slice(i, i + SECRETS_CHUNK))
        .orderBy('created_at')
        .orderBy(this.#ctx.adapter.binaryOrder('hash'))
        .execute();
      for (const row of rows) byKey.get(row.key_id)?.push(toSecret(row));
    }
    return byKey;
  }

  async findByHash(hash: string): Promise<{ key: ApiKeyRecord; secret: KeySecretRecord } | undefined> {
    const row = await this.#db
      .selectFrom('api_key_secrets as s')
      .innerJoin('api_keys as k', 'k.id', 's.key_id')
      .selectAll('k')
      .select([
        's.hash as secret_hash',
        's.display_prefix as secret_display_prefix',
        's.created_at as secret_created_at',
        's.expires_at as secret_expires_at',
      ])
      .where('s.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      key: toKey(row),
      secret: toSecret({
        hash: row.secret_hash,
        key_id: row.id,
        display_prefix: row.secret_display_prefix,
        created_at: row.secret_created_at,
        expires_at: row.secret_expires_at,
      }),
    };
  }

  async recordUsage(
    entries: ReadonlyArray<{
      keyId: string;
      lastUsedAt: number;
      usesConsumed?: { budgetVersion: number; value: number };
    }>,
  ): Promise<void> {
    if (entries.length === 0) return;
    // One write transaction for the batch; no config version bump and no updated_at change:
    // this is bookkeeping, gateways have nothing to reload. Keys removed meanwhile are skipped.
    // Rows are locked in key-id order: gateways flushing the same keys at once would otherwise
    // lock them in opposite orders and deadlock on PostgreSQL (seen in the soak).
    const ordered = [...entries].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
    await inTransaction(this.#ctx, async (db) => {
      for (const entry of ordered) {
        // Flushes may arrive out of order: last_used_at only moves forward.
        await db
          .updateTable('api_keys')
          .set({ last_used_at: entry.lastUsedAt })
          .where('id', '=', entry.keyId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', entry.lastUsedAt)]))
          .execute();
        if (entry.usesConsumed !== undefined) {
          // A flush counted against an older budget (before a reset) must not overwrite the
          // fresh count, and a count never goes down (flushes from several instances, or from a
          // counter that was lost and re-seeded, arrive in any order).
          await db
            .updateTable('api_keys')
            .set({ uses_consumed: entry.usesConsumed.value })
            .where('id', '=', entry.keyId)
            .where('budget_version', '=', entry.usesConsumed.budgetVersion)
            .where('uses_consumed', '<', entry.usesConsumed.value)
            .execute();
        }
      }
    });
  }

  /** Insert one secret of `keyId`; undefined when its hash already exists. */
  #insertSecret(
    db: Kysely<Database>,
    keyId: string,
    secret: { hash: string; displayPrefix: string },
    now: number,
  ): Promise<Selectable<ApiKeySecretsTable> | undefined> {
    return mapUniqueViolation(
      this.#ctx,
      () =>
        db
          .insertInto('api_key_secrets')
          .values({
            hash: secret.hash,
            key_id: keyId,
            display_prefix: secret.displayPrefix,
            created_at: now,
            expires_at: null,
          })
          .onConflict((oc) => oc.column('hash').doNothing())
          .returningAll()
          .executeTakeFirst(),
      () => secretConflict(secret.displayPrefix),
    );
  }
}
