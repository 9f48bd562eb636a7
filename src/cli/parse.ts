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

/**
 * The binding part of a key change from CLI flags (`keys update --binding …` and
 * `bindings edit --mode …` name the mode differently; the rest is the same).
 */
export function bindingPatch(
  flags: Record<string, unknown>,
  modeFlag: { option: string; value: unknown },
): {
  bindingMode?: 'off' | 'single' | 'multiple' | 'all';
  maxIps?: number;
  bindPrefixV4?: number | null;
  bindPrefixV6?: number | null;
} {
  const patch: ReturnType<typeof bindingPatch> = {};
  if (modeFlag.value !== undefined)
    patch.bindingMode = oneOfOption(
      modeFlag.option,
      modeFlag.value as string,
      ['off', 'single', 'multiple', 'all'] as const,
    );
  if (flags['maxIps'] !== undefined)
    patch.maxIps = parseWhole('--max-ips', flags['maxIps'] as string, 1) as number;
  const prefix = (flag: string, value: unknown) =>
    value === 'none' ? null : (parseWhole(flag, value as string) as number);
  if (flags['bindPrefix'] !== undefined) patch.bindPrefixV4 = prefix('--bind-prefix', flags['bindPrefix']);
  if (flags['bindPrefix6'] !== undefined) patch.bindPrefixV6 = prefix('--bind-prefix6', flags['bindPrefix6']);
  return patch;
}
