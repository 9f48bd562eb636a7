/**
 * How a key stands, as people read it: the API stores `active | revoked`, but an active key
 * past its expiry or out of uses is refused too, so the badge says so.
 */
import { Badge } from '../components/states';
import type { Schemas } from '../lib/api';

export type Key = Schemas['Key'];

export function keyState(key: Key, now = Date.now()): { label: string; tone: 'ok' | 'warn' | 'bad' } {
  if (key.status === 'revoked') return { label: 'revoked', tone: 'bad' };
  if (key.expiresAt && new Date(key.expiresAt).getTime() <= now) return { label: 'expired', tone: 'warn' };
  if (remainingUses(key) === 0) return { label: 'used up', tone: 'warn' };
  return { label: 'active', tone: 'ok' };
}

export function KeyStatusBadge({ keyRecord }: { keyRecord: Key }) {
  const state = keyState(keyRecord);
  return <Badge tone={state.tone}>{state.label}</Badge>;
}

/** Null when the key has no budget (unlimited). */
export function remainingUses(key: Key): number | null {
  return key.usesBudget === null ? null : Math.max(0, key.usesBudget - key.usesConsumed);
}

/** The newest secret's display prefix: what a caller's key starts with today. */
export function currentPrefix(key: Key): string {
  const newest = [...key.secrets].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  return newest ? `${newest.prefix}…` : '—';
}
