/** Parsing of CLI option values, with messages that name the option. */
import { CliError, EXIT_INVALID } from './errors.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90d", "24h", "30m", "45s", "2w" → milliseconds. */
export function parseDuration(option: string, value: string): number {
  const match = /^(\d+)([smhdw])$/.exec(value.trim());
  if (!match)
    throw new CliError(
      'invalid_input',
      `${option} expects a duration like 30s, 15m, 24h, 90d or 2w (got "${value}")`,
      EXIT_INVALID,
    );
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** A duration from now ("90d") or an absolute ISO-8601 time → epoch ms; "never" → null. */
export function parseExpiry(option: string, value: string, now: number): number | null {
  if (value === 'never') return null;
  if (/^\d+[smhdw]$/.test(value.trim())) return now + parseDuration(option, value);
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new CliError(
      'invalid_input',
      `${option} expects a duration (90d) or an ISO date (got "${value}")`,
      EXIT_INVALID,
    );
  return at;
}

export function parseList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function parseWhole(option: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new CliError(
      'invalid_input',
      `${option} expects a whole number ≥ ${min} (got "${value}")`,
      EXIT_INVALID,
    );
  }
  return Number(value);
}

export function oneOfOption<const T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CliError(
      'invalid_input',
      `${option} must be one of ${allowed.join(', ')} (got "${value}")`,
      EXIT_INVALID,
    );
  }
  return value as T;
}

/** Repeatable option collector for commander. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** key=value pairs from repeated --meta options. */
export function parsePairs(option: string, pairs: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new CliError('invalid_input', `${option} expects key=value (got "${pair}")`, EXIT_INVALID);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function iso(epochMs: number | null): string {
  return epochMs === null ? '-' : new Date(epochMs).toISOString();
}
