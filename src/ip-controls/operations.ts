/**
 * Administrative operations of IP controls (blocklist, key bindings), shared by the CLI and
 * later the admin API so both validate the same way. Every change is a configuration change:
 * it bumps the config version, and every instance reloads its blocklist snapshot and drops its
 * binding cache within a second.
 */
import { randomBase62 } from '../core/crypto.js';
import { SpecError } from '../core/spec-error.js';
import { checkId, checkName } from '../identity/operations.js';
import { normalizeCidr } from '../net/cidr.js';
import { NotFoundError } from '../store/errors.js';
import type { BindingRecord, BlockKind, BlockRecord, BlockSource, Store } from '../store/types.js';
import { bindingCapacity } from './bindings.js';

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const BLOCK_KINDS = ['ip', 'key', 'client', 'user'] as const satisfies readonly BlockKind[];

function invalid(path: string, message: string): never {
  throw new SpecError([{ path, message }]);
}

/** The canonical value of a block entry: a normalized CIDR for IPs, a checked id otherwise. */
export function blockValue(kind: BlockKind, value: string): string {
  if (kind === 'ip') {
    try {
      return normalizeCidr(value);
    } catch (error) {
      return invalid('ip', (error as Error).message);
    }
  }
  // User ids come from JWT claims: any visible text, not only our id alphabet.
  if (kind === 'user') return checkName(value, 'user');
  // Key ids are generated (`key_` + base62); client ids follow the id rules.
  if (kind === 'key') return KEY_ID.test(value) ? value : invalid('key', 'is not a key id (key_…)');
  return checkId(value, kind);
}

export async function addBlock(
  store: Store,
  input: { kind: BlockKind; value: string; reason: string; source?: BlockSource; expiresAt?: number | null },
  now: number,
): Promise<BlockRecord> {
  if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= now) {
    invalid('expires', 'must be in the future');
  }
  return store.blocks.upsert({
    id: `blk_${randomBase62(16)}`,
    kind: input.kind,
    value: blockValue(input.kind, input.value),
    reason: checkName(input.reason, 'reason'),
    source: input.source ?? 'manual',
    expiresAt: input.expiresAt ?? null,
  });
}

/** Replace a key's bindings with these addresses or networks (an admin re-bind). */
export async function rebindKey(
  store: Store,
  keyId: string,
  addresses: readonly string[],
  now: number,
): Promise<BindingRecord[]> {
  const key = await store.apiKeys.get(keyId);
  if (!key) throw new NotFoundError('key', keyId);
  const capacity = bindingCapacity(key);
  if (capacity === undefined) {
    invalid(
      'binding',
      `key ${keyId} has binding "off"; set a mode first (bindings edit ${keyId} --mode single)`,
    );
  }
  const cidrs: string[] = [];
  for (const address of addresses) {
    try {
      cidrs.push(normalizeCidr(address));
    } catch (error) {
      invalid('ip', (error as Error).message);
    }
  }
  const unique = [...new Set(cidrs)];
  if (unique.length === 0) invalid('ip', 'name at least one address (or use unbind)');
  if (unique.length > capacity) {
    invalid(
      'ip',
      `a "${key.bindingMode}" binding holds at most ${capacity} address${capacity === 1 ? '' : 'es'}; use --mode multiple --max-ips N`,
    );
  }
  return store.bindings.replace(
    keyId,
    unique,
    now,
    unique.map(() => `bnd_${randomBase62(16)}`),
  );
}

export async function unbindKey(store: Store, keyId: string): Promise<number> {
  if (!(await store.apiKeys.get(keyId))) throw new NotFoundError('key', keyId);
  return store.bindings.removeAll(keyId);
}
