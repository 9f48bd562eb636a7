/**
 * The audit log of administrative changes (PRODUCT.md §9). Rather than asking every command to
 * remember to log, the CLI (and later the admin API) works on an *audited store*: every
 * mutating repository operation runs in a transaction together with its audit entry — actor,
 * source, action, target, and redacted snapshots before and after. Declarative `apply` goes
 * through `store.write`, whose repositories are audited the same way, so one file applied is
 * one transaction with one entry per change.
 *
 * Request-path bookkeeping (last-used times, first-use bindings, records) is not an
 * administrative change and is not audited. Nor are admin sessions (`adminSessions`): the
 * HTTP layer records logins and logouts itself, with what a repository call cannot know.
 */
import type { Clock } from '../core/clock.js';
import { randomBase62 } from '../core/crypto.js';
import type { BlockKind, Repositories, Store } from '../store/types.js';

/** Operations that change configuration, per repository. */
const AUDITED: Readonly<Partial<Record<keyof Repositories, readonly string[]>>> = {
  routes: ['insert', 'replace', 'remove'],
  clients: ['insert', 'update', 'remove'],
  apiKeys: ['insert', 'update', 'rotate'],
  grants: ['upsert', 'remove'],
  hmacSecrets: ['add', 'remove'],
  jwtProviders: ['insert', 'replace', 'remove'],
  serviceTokens: ['insert', 'revoke'],
  policies: ['insert', 'replace', 'remove'],
  blocks: ['upsert', 'remove', 'removeFor'],
  bindings: ['replace', 'removeAll'],
  adminUsers: ['insert', 'update', 'remove'],
  liveSettings: ['replace'],
  anomalies: ['resolve'],
};

/** Field names whose values never reach the audit log. */
const SECRET_FIELDS = new Set([
  'hash',
  'ciphertext',
  'secret',
  'secret_encrypted',
  'secretEncrypted',
  'password',
  'passwordHash',
  'password_hash',
  'token',
  'tokenHash',
  'token_hash',
]);

/**
 * Values redacted wherever they appear, whatever the field is called: a password hash is
 * recognisable by its encoding, so a renamed or nested field cannot leak one.
 */
const SECRET_VALUE = /^scrypt\$/;

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? '[redacted]' : value;
  if (value === null || typeof value !== 'object') return value;
  // Deeper than any record we store: cut rather than pass it through unredacted.
  if (depth > 8) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [name, inner] of Object.entries(value)) {
    out[name] = SECRET_FIELDS.has(name) ? '[redacted]' : redact(inner, depth + 1);
  }
  return out;
}

/** What a change is about, from its arguments. */
function targetOf(repository: string, operation: string, args: readonly unknown[]): string {
  const [first, second] = args;
  if (repository === 'liveSettings') return 'live_settings';
  if (repository === 'grants' && operation === 'remove') return `${String(first)}/${String(second)}`;
  if (repository === 'blocks' && operation === 'removeFor') return `${String(first)}:${String(second)}`;
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object') {
    const o = first as Record<string, unknown>;
    if (typeof o['id'] === 'string') return o['id'];
    if (typeof o['clientId'] === 'string' && typeof o['routeId'] === 'string')
      return `${o['clientId']}/${o['routeId']}`;
    if (typeof o['kind'] === 'string' && typeof o['value'] === 'string') return `${o['kind']}:${o['value']}`;
  }
  return '';
}

/** The state a change starts from, for the audit entry's `before` (undefined when new). */
async function snapshotBefore(
  repos: Repositories,
  repository: keyof Repositories,
  operation: string,
  args: readonly unknown[],
): Promise<unknown> {
  const [first, second] = args as [unknown, unknown];
  const arg = (first ?? {}) as Record<string, unknown>;
  switch (repository) {
    case 'blocks':
      if (operation === 'remove') return repos.blocks.get(String(first));
      {
        const kind = (operation === 'removeFor' ? first : arg['kind']) as BlockKind;
        const value = operation === 'removeFor' ? second : arg['value'];
        return repos.blocks.find(kind, String(value));
      }
    case 'bindings':
      return repos.bindings.list({ keyId: String(first) });
    case 'grants': {
      const clientId = operation === 'remove' ? String(first) : String(arg['clientId']);
      const routeId = operation === 'remove' ? String(second) : String(arg['routeId']);
      return (await repos.grants.list({ clientId, routeId }))[0];
    }
    case 'hmacSecrets':
      return operation === 'remove'
        ? (await repos.hmacSecrets.list()).find((h) => h.id === first)
        : undefined;
    case 'liveSettings':
      return repos.liveSettings.get();
    case 'serviceTokens':
      return operation === 'revoke'
        ? (await repos.serviceTokens.list()).find((t) => t.id === first)
        : undefined;
    default: {
      if (operation === 'insert') return undefined;
      const id = typeof first === 'string' ? first : typeof arg['id'] === 'string' ? arg['id'] : undefined;
      const repo = repos[repository] as unknown as { get?: (id: string) => Promise<unknown> };
      return id !== undefined && repo.get ? repo.get(id) : undefined;
    }
  }
}

export interface AuditActor {
  actor: string;
  source: string;
}

function auditedRepositories(repos: Repositories, who: AuditActor, clock: Clock): Repositories {
  const wrapped: Record<string, unknown> = {};
  for (const [name, repo] of Object.entries(repos) as Array<[keyof Repositories, Record<string, unknown>]>) {
    const operations = AUDITED[name];
    if (!operations) {
      wrapped[name] = repo;
      continue;
    }
    wrapped[name] = new Proxy(repo, {
      get(target, property) {
        const original = Reflect.get(target, property) as unknown;
        if (
          typeof property !== 'string' ||
          !operations.includes(property) ||
          typeof original !== 'function'
        ) {
          return typeof original === 'function'
            ? (original as (...a: unknown[]) => unknown).bind(target)
            : original;
        }
        return async (...args: unknown[]) => {
          const before = await snapshotBefore(repos, name, property, args);
          const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          // An upsert of an existing entry keeps its id: name what was really changed.
          const resultId = (result as { id?: unknown } | null)?.id;
          const targetId = typeof resultId === 'string' ? resultId : targetOf(name, property, args);
          await repos.auditLog.insert({
            id: `aud_${randomBase62(16)}`,
            at: clock.now(),
            actor: who.actor,
            source: who.source,
            action: `${name}.${property}`,
            targetType: name,
            targetId,
            before: before === undefined ? null : redact(before),
            after: redact(typeof result === 'object' ? result : { result }),
          });
          return result;
        };
      },
    });
  }
  return Object.freeze(wrapped) as unknown as Repositories;
}

/** A store whose configuration changes are audited, each in one transaction with its entry. */
export function auditedStore(store: Store, who: AuditActor, clock: Clock): Store {
  const direct: Record<string, unknown> = {};
  for (const [name, operations] of Object.entries(AUDITED) as Array<
    [keyof Repositories, readonly string[]]
  >) {
    const repo = store[name] as unknown as Record<string, unknown>;
    direct[name] = new Proxy(repo, {
      get(target, property) {
        const original = Reflect.get(target, property) as unknown;
        if (
          typeof property !== 'string' ||
          !operations.includes(property) ||
          typeof original !== 'function'
        ) {
          return typeof original === 'function'
            ? (original as (...a: unknown[]) => unknown).bind(target)
            : original;
        }
        // A direct call becomes a transaction holding the change and its audit entry.
        return (...args: unknown[]) =>
          store.write((repos) => {
            const audited = auditedRepositories(repos, who, clock)[name] as unknown as Record<
              string,
              (...a: unknown[]) => Promise<unknown>
            >;
            return (audited[property] as (...a: unknown[]) => Promise<unknown>)(...args);
          });
      },
    });
  }
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === 'string' && property in direct) return direct[property];
      if (property === 'write') {
        return <T>(fn: (repos: Repositories) => Promise<T>) =>
          target.write((repos) => fn(auditedRepositories(repos, who, clock)));
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
