/**
 * Cursor pagination. A cursor is the opaque (base64url) sort key of the last item returned;
 * the next page starts strictly after it, so items added or removed between pages neither
 * repeat nor shift the rest. Configuration resources are small and listed from the store
 * whole, then paged here; what grows with traffic or customers (request logs, clients, grants,
 * keys, bindings, blocklist entries, which anomaly detection adds unattended) pages in SQL by
 * its own key.
 */
import { SpecError } from '../../core/spec-error.js';
import type { CreationPosition } from '../../store/types.js';

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key.length === 0 || encodeCursor(key) !== cursor)
    throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return key;
}

/** One page of `items` (any order: sorted here by `keyOf`, compared as code units). */
export function pageOf<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  query: { limit?: number; cursor?: string },
): { items: T[]; nextCursor: string | null } {
  const limit = query.limit ?? 100;
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const sorted = [...items].sort((a, b) => {
    const ka = keyOf(a);
    const kb = keyOf(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const rest = after === undefined ? sorted : sorted.filter((item) => keyOf(item) > after);
  const page = rest.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page,
    nextCursor: rest.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}

/**
 * Cursors of a list in creation order (keys, blocks): the creation time zero-padded to `digits`,
 * a space and the id. The text `pageOf` used as their sort key before these lists paged in SQL,
 * so cursors issued then still work; each list keeps the width it had.
 */
export function creationCursors(digits: number): {
  encode(item: CreationPosition): string;
  decode(cursor: string): CreationPosition;
} {
  const pattern = new RegExp(`^(\\d{${digits}}) (.+)$`, 's');
  return {
    encode: (item) => encodeCursor(`${String(item.createdAt).padStart(digits, '0')} ${item.id}`),
    decode(cursor) {
      const match = pattern.exec(decodeCursor(cursor));
      if (!match) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
      return { createdAt: Number(match[1]), id: match[2] as string };
    },
  };
}

/**
 * A page cut from rows read in SQL after the cursor, `limit + 1` of them: the first `limit`
 * are the page, and one more means there is a next page (no second query to find out).
 */
export function pageOfRows<T>(
  rows: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}
