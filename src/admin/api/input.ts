/**
 * Values the admin API accepts in the same spelling as the CLI and the config file:
 * durations (`30s`, `15m`, `24h`, `90d`, `2w`) and expiries (a duration from now, an ISO
 * date, or `never`). A bad value is a 422 naming the field.
 */
import { SpecError } from '../../core/spec-error.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export function duration(path: string, value: string): number {
  const match = /^(\d{1,9})([smhdw])$/.exec(value.trim());
  if (!match)
    throw new SpecError([
      { path, message: `expects a duration like 30s, 15m, 24h, 90d or 2w (got "${value}")` },
    ]);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** An absolute time (epoch ms) or null for `never`. */
export function expiry(path: string, value: string, now: number): number | null {
  if (value === 'never') return null;
  if (/^\d+[smhdw]$/.test(value.trim())) return now + duration(path, value);
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new SpecError([
      { path, message: `expects a duration (90d), an ISO date or "never" (got "${value}")` },
    ]);
  return at;
}

/** A point in the past given as a duration ago (`1h`) or an ISO date; for `since`/`until` filters. */
export function since(path: string, value: string, now: number): number {
  if (/^\d+[smhdw]$/.test(value.trim())) return now - duration(path, value);
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new SpecError([{ path, message: `expects a duration ago (1h) or an ISO date (got "${value}")` }]);
  return at;
}
