/**
 * Administrative operations on identities, shared by the CLI and (later) the admin API, so
 * the rules live in one place: id and name validation, key issuance (the plaintext is
 * returned once and never stored), rotation with a grace period, HMAC secrets encrypted at
 * rest, service tokens.
 */
import { generateApiKey } from '../auth/api-key/format.js';
import { generateServiceToken } from '../auth/service-token.js';
import { parseCidrList } from '../config/settings.js';
import type { Clock } from '../core/clock.js';
import { credentialHash, encryptSecret, randomBase62, type SecretKeys } from '../core/crypto.js';
import { SpecError } from '../core/spec-error.js';
import { normalizeCidr } from '../net/cidr.js';
import type {
  ApiKeyRecord,
  BindingMode,
  ClientRecord,
  KeyEnvironment,
  ServiceTokenRecord,
  ServiceTokenRole,
  Store,
} from '../store/types.js';

export const ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** Visible characters and spaces only: names travel in headers (X-Portcullis-Client-Name). */
const NAME_PATTERN = /^[\x20-\x7e\u00a0-\uffff]{1,200}$/u;
const SCOPE_PATTERN = /^[\x21-\x7e]{1,128}$/;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

export const DEFAULT_ROTATION_GRACE_MS = 24 * 3600 * 1000;
export const DEFAULT_HMAC_OVERLAP_MS = 24 * 3600 * 1000;

function invalid(path: string, message: string): never {
  throw new SpecError([{ path, message }]);
}

export function checkId(id: string, what = 'id'): string {
  if (!ID_PATTERN.test(id))
    invalid(what, 'must be 1-64 characters: a-z, 0-9, "_", "." or "-", starting with a letter or digit');
  return id;
}

export function checkName(name: string, what = 'name'): string {
  const trimmed = name.trim();
  if (!NAME_PATTERN.test(trimmed) || /[\r\n\t]/.test(name)) {
    invalid(what, 'must be 1-200 visible characters (no line breaks or control characters)');
  }
  return trimmed;
}

export function checkScopes(scopes: readonly string[]): string[] {
  for (const scope of scopes)
    if (!SCOPE_PATTERN.test(scope))
      invalid('scopes', `"${scope}" is not a valid scope (visible characters, no spaces)`);
  return [...new Set(scopes)];
}

export function checkMetadata(metadata: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(key))
      invalid(`metadata.${key}`, 'keys are 1-64 characters: letters, digits, "_", "." or "-"');
    if (value.length > 1000 || /[\r\n]/.test(value))
      invalid(`metadata.${key}`, 'values are at most 1000 characters without line breaks');
  }
  return metadata;
}

/** A client id derived from its name: "Mobile App v2.1" → "mobile-app-v2.1". */
export function idFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[-_.]+|-+$/g, '')
    .slice(0, 64);
  return ID_PATTERN.test(slug) ? slug : `client-${randomBase62(8).toLowerCase()}`;
}

export interface IdentityContext {
  store: Store;
  keys: SecretKeys;
  clock: Clock;
  keyPrefix: string;
}

export async function createClient(
  ctx: IdentityContext,
  input: { id?: string; name: string; metadata?: Record<string, string> },
): Promise<ClientRecord> {
  const name = checkName(input.name);
  const id = checkId(input.id ?? idFromName(name));
  return ctx.store.clients.insert({ id, name, metadata: checkMetadata(input.metadata ?? {}) });
}

export interface CreateKeyInput {
  clientId: string;
  environment: KeyEnvironment;
  name?: string;
  scopes?: string[];
  expiresAt?: number | null;
  ipAllow?: string[];
  ipDeny?: string[];
  bindingMode?: BindingMode;
  maxIps?: number | null;
  bindPrefixV4?: number | null;
  bindPrefixV6?: number | null;
  policy?: string | null;
  usesBudget?: number | null;
}

export interface IssuedKey {
  record: ApiKeyRecord;
  /** The plaintext key: give it to the caller once; it is not stored anywhere. */
  key: string;
  displayPrefix: string;
}

export function checkIpList(list: readonly string[], field = 'ip_allow'): string[] {
  try {
    return parseCidrList([...list]).map(normalizeCidr);
  } catch (error) {
    return invalid(field, (error as Error).message);
  }
}

/** The most IPs a `multiple` binding may hold (each is a row and a cache entry). */
export const MAX_BOUND_IPS = 1000;

/**
 * Binding settings that make sense together: `multiple` needs a count, the count and the
 * prefixes only mean something for the modes that bind. `current` is the key as stored (updates).
 */
export function checkBinding(
  input: {
    bindingMode?: BindingMode | undefined;
    maxIps?: number | null | undefined;
    bindPrefixV4?: number | null | undefined;
    bindPrefixV6?: number | null | undefined;
  },
  current?: { bindingMode: BindingMode; maxIps: number | null },
): void {
  const mode = input.bindingMode ?? current?.bindingMode ?? 'off';
  const maxIps = input.maxIps !== undefined ? input.maxIps : (current?.maxIps ?? null);
  if (maxIps !== null && (!Number.isSafeInteger(maxIps) || maxIps < 1 || maxIps > MAX_BOUND_IPS)) {
    invalid('max_ips', `must be a whole number from 1 to ${MAX_BOUND_IPS}`);
  }
  if (mode === 'multiple' && maxIps === null) {
    invalid('max_ips', 'a "multiple" binding needs --max-ips N (how many distinct IPs it may hold)');
  }
  const prefix = (value: number | null | undefined, max: number, field: string) => {
    if (value !== undefined && value !== null && (!Number.isSafeInteger(value) || value < 0 || value > max)) {
      invalid(field, `must be a prefix length from 0 to ${max}`);
    }
  };
  prefix(input.bindPrefixV4, 32, 'bind_prefix_v4');
  prefix(input.bindPrefixV6, 128, 'bind_prefix_v6');
}

export async function createKey(ctx: IdentityContext, input: CreateKeyInput): Promise<IssuedKey> {
  checkBinding(input);
  if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= ctx.clock.now()) {
    invalid('expires', 'must be in the future');
  }
  if (
    input.usesBudget !== undefined &&
    input.usesBudget !== null &&
    (!Number.isSafeInteger(input.usesBudget) || input.usesBudget < 0)
  ) {
    invalid('uses', 'must be a whole number ≥ 0');
  }
  const { key, displayPrefix } = generateApiKey(ctx.keyPrefix, input.environment);
  const record = await ctx.store.apiKeys.insert(
    {
      id: `key_${randomBase62(16)}`,
      clientId: input.clientId,
      name: input.name === undefined ? null : checkName(input.name),
      environment: input.environment,
      scopes: checkScopes(input.scopes ?? []),
      expiresAt: input.expiresAt ?? null,
      ipAllow: checkIpList(input.ipAllow ?? []),
      ipDeny: checkIpList(input.ipDeny ?? [], 'ip_deny'),
      bindingMode: input.bindingMode ?? 'off',
      maxIps: input.maxIps ?? null,
      bindPrefixV4: input.bindPrefixV4 ?? null,
      bindPrefixV6: input.bindPrefixV6 ?? null,
      policy: input.policy ?? null,
      usesBudget: input.usesBudget ?? null,
    },
    { hash: credentialHash(ctx.keys, key), displayPrefix },
  );
  return { record, key, displayPrefix };
}

/** New secret for the same key (same id, limits, budget and history); the old one works until the grace ends. */
export async function rotateKey(
  ctx: IdentityContext,
  keyId: string,
  graceMs = DEFAULT_ROTATION_GRACE_MS,
): Promise<{ key: string; displayPrefix: string; oldSecretsExpireAt: number; record: ApiKeyRecord }> {
  const existing = await ctx.store.apiKeys.get(keyId);
  if (!existing) throw new (await import('../store/errors.js')).NotFoundError('key', keyId);
  if (existing.status === 'revoked') invalid('key', 'a revoked key cannot be rotated');
  const { key, displayPrefix } = generateApiKey(ctx.keyPrefix, existing.environment);
  const retireAt = ctx.clock.now() + graceMs;
  await ctx.store.apiKeys.rotate(keyId, { hash: credentialHash(ctx.keys, key), displayPrefix }, retireAt);
  return { key, displayPrefix, oldSecretsExpireAt: retireAt, record: existing };
}

export async function revokeKey(ctx: IdentityContext, keyId: string, reason: string): Promise<ApiKeyRecord> {
  return ctx.store.apiKeys.update(keyId, {
    status: 'revoked',
    revokedReason: checkName(reason, 'reason'),
    revokedAt: ctx.clock.now(),
  });
}

/** Issue a new HMAC secret for a client; older ones stay valid for the overlap. */
export async function issueHmacSecret(
  ctx: IdentityContext,
  clientId: string,
  overlapMs = DEFAULT_HMAC_OVERLAP_MS,
): Promise<{ id: string; secret: string; previousExpireAt: number }> {
  const client = await ctx.store.clients.get(clientId);
  if (!client) throw new (await import('../store/errors.js')).NotFoundError('client', clientId);
  const secret = randomBase62(43);
  const id = `hsec_${randomBase62(12)}`;
  const previousExpireAt = ctx.clock.now() + overlapMs;
  await ctx.store.hmacSecrets.add(
    { id, clientId, ciphertext: encryptSecret(ctx.keys, secret) },
    previousExpireAt,
  );
  return { id, secret, previousExpireAt };
}

export async function createServiceToken(
  ctx: IdentityContext,
  input: { name: string; role: ServiceTokenRole; expiresAt?: number | null },
): Promise<{ record: ServiceTokenRecord; token: string }> {
  const { token, displayPrefix } = generateServiceToken();
  const record = await ctx.store.serviceTokens.insert({
    id: `tok_${randomBase62(12)}`,
    name: checkName(input.name),
    role: input.role,
    hash: credentialHash(ctx.keys, token),
    displayPrefix,
    expiresAt: input.expiresAt ?? null,
  });
  return { record, token };
}

/** The safe view of a key for lists and exports: never a secret or a hash. */
export function publicKeyView(
  record: ApiKeyRecord,
  secrets: ReadonlyArray<{ displayPrefix: string; createdAt: number; expiresAt: number | null }> = [],
) {
  return {
    id: record.id,
    client: record.clientId,
    name: record.name,
    environment: record.environment,
    scopes: record.scopes,
    status: record.status,
    revokedReason: record.revokedReason,
    expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
    ipAllow: record.ipAllow,
    ipDeny: record.ipDeny,
    binding: record.bindingMode,
    maxIps: record.maxIps,
    bindPrefixV4: record.bindPrefixV4,
    bindPrefixV6: record.bindPrefixV6,
    policy: record.policy,
    usesBudget: record.usesBudget,
    usesConsumed: record.usesConsumed,
    createdAt: new Date(record.createdAt).toISOString(),
    lastUsedAt: record.lastUsedAt === null ? null : new Date(record.lastUsedAt).toISOString(),
    secrets: secrets.map((s) => ({
      prefix: s.displayPrefix,
      createdAt: new Date(s.createdAt).toISOString(),
      expiresAt: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
    })),
  };
}
