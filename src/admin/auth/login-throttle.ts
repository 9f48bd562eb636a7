/**
 * Login throttling for admin users, kept in hot state so every instance sharing Redis sees
 * the same counts (with in-memory state it is per instance). Three scopes, each with its own
 * failure streak and lock:
 *
 * | scope         | subject             | lock from failure | delay            | cap    | streak forgotten after |
 * |---------------|---------------------|-------------------|------------------|--------|------------------------|
 * | `account_ip`  | username × IP       | 5th               | 2^(n-5) s        | 15 min | 15 min quiet           |
 * | `ip`          | IP, any username    | 20th              | 2^(n-20) s       | 1 h    | 1 h quiet              |
 * | `account`     | username, any IP    | 50th              | 2^(n-50) s       | 15 min | 1 h quiet              |
 *
 * - A delay runs from the failure that set it; `n` is the failure's number in its streak.
 *   "Quiet" counts from the end of the last lock (a streak's state lives window + delay after
 *   its last failure), so an attacker who waits out every lock keeps climbing to the cap
 *   instead of starting over. A streak lasts 24 h at most.
 * - The `account` lock does not apply to an IP that logged in to that username successfully
 *   within the last 30 days: an attacker can slow their own addresses and the account from
 *   new addresses, never the admin's known address, and every lock ends by itself.
 * - The caller never says whether the username exists, so unknown and real usernames are
 *   counted and locked identically and a lock answer reveals nothing about existence.
 * - A success clears the `account_ip` streak and remembers the IP; it leaves the `ip` and
 *   `account` streaks alone (an attack on them is not over because the admin got in).
 * - IPv6 addresses count per /64 (one subscriber's network; a single address is free to
 *   change within it). Usernames are lower-cased, as stored, and appear in keys only as a
 *   truncated SHA-256, so keys stay short whatever is typed.
 *
 * Limits: attempts already past `check` when a lock starts are not stopped (a parallel burst
 * still escalates the delay for what follows). Faults of the state backend reject; the caller
 * must then refuse the login rather than skip the throttle.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { networkOf } from '../../net/cidr.js';
import { normalizeIp } from '../../net/ip.js';
import type { HotState } from '../../state/types.js';

export type LoginThrottleScope = 'account_ip' | 'ip' | 'account';

export type LoginThrottleVerdict =
  | { allowed: true }
  | { allowed: false; retryAfterS: number; scope: LoginThrottleScope };

interface ScopeLimits {
  /** The failure of a streak from which a lock applies. */
  readonly threshold: number;
  /** Quiet time after which a streak is forgotten (counted from the end of its last lock). */
  readonly windowMs: number;
  readonly capMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const LOGIN_THROTTLE_LIMITS: Readonly<Record<LoginThrottleScope, ScopeLimits>> & {
  readonly knownIpMs: number;
  readonly streakMaxMs: number;
} = Object.freeze({
  account_ip: Object.freeze({ threshold: 5, windowMs: 15 * MINUTE, capMs: 15 * MINUTE }),
  ip: Object.freeze({ threshold: 20, windowMs: HOUR, capMs: HOUR }),
  account: Object.freeze({ threshold: 50, windowMs: HOUR, capMs: 15 * MINUTE }),
  knownIpMs: 30 * DAY,
  streakMaxMs: DAY,
});

const SCOPES: readonly LoginThrottleScope[] = ['account_ip', 'ip', 'account'];
const PREFIX = 'admin-login';

/** The delay set by failure number `n` of a streak (0: no lock yet). */
export function lockDelayMs(scope: LoginThrottleScope, n: number): number {
  const { threshold, capMs } = LOGIN_THROTTLE_LIMITS[scope];
  if (n < threshold) return 0;
  // 2 ** large is Infinity, never NaN: min() still lands on the cap.
  return Math.min(1000 * 2 ** (n - threshold), capMs);
}

function userSubject(username: string): string {
  return createHash('sha256').update(username.toLowerCase()).digest('base64url').slice(0, 22);
}

function ipSubject(ip: string): string {
  const normalized = normalizeIp(ip);
  // Not an address (callers pass normalized ones): still a bounded, distinct subject.
  if (normalized === undefined) return `x${createHash('sha256').update(ip).digest('base64url').slice(0, 22)}`;
  return normalized.includes(':') ? networkOf(normalized, 64) : normalized;
}

export interface LoginThrottleOptions {
  state: HotState;
  clock: Clock;
}

export class LoginThrottle {
  readonly #state: HotState;
  readonly #clock: Clock;

  constructor(options: LoginThrottleOptions) {
    this.#state = options.state;
    this.#clock = options.clock;
  }

  async check(username: string, ip: string): Promise<LoginThrottleVerdict> {
    const subjects = this.#subjects(username, ip);
    const [pair, byIp, account, known] = await Promise.all([
      this.#state.get(stateKey('account_ip', subjects.account_ip)),
      this.#state.get(stateKey('ip', subjects.ip)),
      this.#state.get(stateKey('account', subjects.account)),
      this.#state.get(knownKey(subjects.account_ip)),
    ]);
    const now = this.#clock.now();
    let verdict: LoginThrottleVerdict = { allowed: true };
    const consider = (scope: LoginThrottleScope, value: string | null): void => {
      const until = value === null ? 0 : Number(value);
      if (!(until > now)) return;
      const retryAfterS = Math.max(1, Math.ceil((until - now) / 1000));
      if (verdict.allowed || retryAfterS > verdict.retryAfterS)
        verdict = { allowed: false, retryAfterS, scope };
    };
    consider('account_ip', pair);
    consider('ip', byIp);
    if (known === null) consider('account', account);
    return verdict;
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    const subjects = this.#subjects(username, ip);
    await Promise.all(SCOPES.map((scope) => this.#fail(scope, subjects[scope])));
  }

  async recordSuccess(username: string, ip: string): Promise<void> {
    const subjects = this.#subjects(username, ip);
    await Promise.all([
      this.#state.del(counterKey('account_ip', subjects.account_ip)),
      this.#state.del(stateKey('account_ip', subjects.account_ip)),
      this.#state.set(knownKey(subjects.account_ip), '1', LOGIN_THROTTLE_LIMITS.knownIpMs),
    ]);
  }

  async #fail(scope: LoginThrottleScope, subject: string): Promise<void> {
    const limits = LOGIN_THROTTLE_LIMITS[scope];
    // No state: the previous streak (if any) was forgotten, so its counter must not carry
    // over. Two instances may both reset at a streak's start and lose one count; later
    // counts are exact (incr is atomic everywhere).
    if ((await this.#state.get(stateKey(scope, subject))) === null) {
      await this.#state.del(counterKey(scope, subject));
    }
    const n = await this.#state.incr(counterKey(scope, subject), 1, LOGIN_THROTTLE_LIMITS.streakMaxMs);
    const delay = lockDelayMs(scope, n);
    const until = delay === 0 ? 0 : this.#clock.now() + delay;
    await this.#state.set(stateKey(scope, subject), String(until), limits.windowMs + delay);
  }

  #subjects(username: string, ip: string): Record<LoginThrottleScope, string> {
    const user = userSubject(username);
    const address = ipSubject(ip);
    return { account_ip: `${user}:${address}`, ip: address, account: user };
  }
}

function counterKey(scope: LoginThrottleScope, subject: string): string {
  return `${PREFIX}:${scope}:n:${subject}`;
}

/** Value: epoch ms the lock lasts until (0 while below the threshold). */
function stateKey(scope: LoginThrottleScope, subject: string): string {
  return `${PREFIX}:${scope}:s:${subject}`;
}

function knownKey(pairSubject: string): string {
  return `${PREFIX}:known:${pairSubject}`;
}
