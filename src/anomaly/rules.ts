/**
 * What the detector does per signal (PRODUCT.md §10 "actions per rule"), written as one line
 * so it fits an environment variable: `burst=alert,auth_failures=block:15m,key_sharing=block`.
 *
 * - `off`: the signal is not reported at all;
 * - `record`: kept in the anomaly list, no alert;
 * - `alert`: recorded and sent to the alert webhook;
 * - `block:<duration>`: the identity is blocked for that long (the block expires by itself),
 *   recorded and alerted; `block` alone blocks until an admin lifts it.
 *
 * Signals not named keep their default. The defaults block only on authentication-failure
 * spikes from one address (credential stuffing: nobody legitimate fails 20+ times a minute);
 * everything else alerts, because a burst or an error storm may be a customer's launch day
 * and blocking it should be a deliberate choice.
 */
import { SIGNALS, type Signal } from './signals.js';

export type Rule =
  | { action: 'off' }
  | { action: 'record' }
  | { action: 'alert' }
  | { action: 'block'; durationMs: number | null };

export type Rules = Readonly<Record<Signal, Rule>>;

export const DEFAULT_RULES: Rules = {
  burst: { action: 'alert' },
  auth_failures: { action: 'block', durationMs: 15 * 60_000 },
  error_rate: { action: 'alert' },
  key_sharing: { action: 'alert' },
  rate_limited: { action: 'alert' },
};

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_BLOCK_MS = 365 * 86_400_000;

function parseDuration(text: string, where: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(text);
  const ms = match ? Number(match[1]) * (UNITS[match[2] as string] as number) : Number.NaN;
  if (!(ms >= 1000 && ms <= MAX_BLOCK_MS))
    throw new Error(`${where}: "${text}" is not a block duration like 30s, 15m, 12h or 7d (1s to 365d)`);
  return ms;
}

/** Parse the rules line; every mistake names the entry and what is accepted. */
export function parseRules(text: string): Rules {
  const rules: Record<Signal, Rule> = { ...DEFAULT_RULES };
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const signal = (eq === -1 ? entry : entry.slice(0, eq)).trim();
    if (!(SIGNALS as readonly string[]).includes(signal))
      throw new Error(`"${signal}" is not a signal (one of ${SIGNALS.join(', ')})`);
    if (seen.has(signal)) throw new Error(`${signal} is named twice`);
    seen.add(signal);
    if (eq === -1) throw new Error(`${signal}: expected ${signal}=off|record|alert|block|block:<duration>`);
    const action = entry.slice(eq + 1).trim();
    let rule: Rule;
    if (action === 'off' || action === 'record' || action === 'alert') rule = { action };
    else if (action === 'block') rule = { action: 'block', durationMs: null };
    else if (action.startsWith('block:'))
      rule = { action: 'block', durationMs: parseDuration(action.slice(6), signal) };
    else
      throw new Error(
        `${signal}: "${action}" is not an action (off, record, alert, block or block:<duration>)`,
      );
    rules[signal as Signal] = rule;
  }
  return Object.freeze(rules);
}

export function formatRule(rule: Rule): string {
  if (rule.action !== 'block') return rule.action;
  if (rule.durationMs === null) return 'block';
  const ms = rule.durationMs;
  for (const unit of ['d', 'h', 'm'] as const)
    if (ms % (UNITS[unit] as number) === 0) return `block:${ms / (UNITS[unit] as number)}${unit}`;
  return `block:${Math.round(ms / 1000)}s`;
}

export function formatRules(rules: Rules): string {
  return SIGNALS.map((signal) => `${signal}=${formatRule(rules[signal])}`).join(',');
}
