/**
 * From where (PRODUCT.md §8), in two stages:
 *
 * - `ipGateStage` runs first, before routing or any credential work: the blocklist's address
 *   entries and the global allow/deny lists. A blocked or denied address costs one or two
 *   in-memory lookups.
 * - `ipRulesStage` runs once the caller is known and authorized: the route's and the key's
 *   allow/deny lists, blocklist entries for the key, client and user, and first-use key
 *   binding. It comes before the key's remaining-uses budget and the rate limits, so a refused
 *   request consumes neither.
 *
 * Deny lists are checked before allow lists at each level; every level must pass. The
 * answers name no entry and no reason (the refused caller learns nothing about the rules).
 */
import type { Logger } from 'pino';
import type { BindingVerdict, KeyBindings } from '../../ip-controls/bindings.js';
import type { Blocklist } from '../../ip-controls/blocklist.js';
import type { InterceptRecorder } from '../../ip-controls/intercepts.js';
import type { CidrSet } from '../../net/cidr.js';
import { deny } from '../decision.js';
import type { Deny, Exchange, Stage } from '../types.js';

export type Failsafe = 'open' | 'closed';

const IP_NOT_ALLOWED = 'requests from this address are not allowed';

/** Deny list first, then allow list (an empty allow list allows all). */
function listsRefuse(allow: CidrSet | undefined, deny: CidrSet | undefined, ip: string): boolean {
  if (deny?.has(ip)) return true;
  return allow !== undefined && !allow.has(ip);
}

export function ipGateStage(options: {
  blocklist: Blocklist;
  allow: CidrSet | undefined;
  deny: CidrSet | undefined;
}): Stage {
  const { blocklist, allow, deny: denyList } = options;
  return (exchange) => {
    const ip = exchange.facts.clientIp;
    if (blocklist.matchIp(ip)) return deny('blocked', 'access from this address is blocked');
    if (listsRefuse(allow, denyList, ip)) return deny('ip_not_allowed', IP_NOT_ALLOWED);
    return undefined;
  };
}

export interface IpRulesStageOptions {
  blocklist: Blocklist;
  bindings: KeyBindings;
  intercepts: InterceptRecorder;
  /** Read at the moment of a fault, so a live change (config/live.ts) applies at once. */
  failsafe: { readonly failsafe: Failsafe };
  logger: Logger;
}

export function ipRulesStage(options: IpRulesStageOptions): Stage {
  const { blocklist, bindings, intercepts, logger } = options;

  const judged = (exchange: Exchange, verdict: BindingVerdict): Deny | undefined => {
    if (verdict.ok) return undefined;
    const key = exchange.key!.key;
    const facts = exchange.facts;
    intercepts.record({
      keyId: key.id,
      clientId: key.clientId,
      ip: facts.clientIp,
      bound: [...verdict.bound],
      routeId: exchange.match?.route.id ?? null,
      method: facts.method,
      path: facts.path,
      requestId: facts.requestId,
    });
    return deny('ip_binding_violation', 'this key is bound to other addresses');
  };

  const storeFault = (exchange: Exchange, error: unknown): Deny | undefined => {
    logger.error(
      {
        requestId: exchange.facts.requestId,
        key: exchange.key?.key.id,
        err: error,
        failsafe: options.failsafe.failsafe,
      },
      'key binding cannot be checked',
    );
    // `all` only records where a key is used: it never refuses, with or without a database.
    if (options.failsafe.failsafe === 'open' || exchange.key?.key.bindingMode === 'all') return undefined;
    return deny('failsafe_closed', 'the key binding cannot be checked right now', [['retry-after', '1']]);
  };

  return (exchange) => {
    const ip = exchange.facts.clientIp;
    const route = exchange.match?.route;
    if (route && listsRefuse(route.ipAllow, route.ipDeny, ip)) return deny('ip_not_allowed', IP_NOT_ALLOWED);
    const entry = exchange.key;
    if (entry && listsRefuse(entry.ipAllow, entry.ipDeny, ip)) {
      return deny('ip_not_allowed', 'this key may not be used from this address');
    }
    const principal = exchange.principal;
    if (principal && principal.kind !== 'anonymous') {
      if (
        (principal.keyId !== undefined && blocklist.match('key', principal.keyId)) ||
        (principal.clientId !== undefined && blocklist.match('client', principal.clientId)) ||
        (principal.userId !== undefined && blocklist.match('user', principal.userId))
      ) {
        return deny('blocked', 'this caller is blocked');
      }
    }
    if (!entry || entry.key.bindingMode === 'off') return undefined;
    let verdict: BindingVerdict | Promise<BindingVerdict>;
    try {
      verdict = bindings.check(entry.key, ip);
    } catch (error) {
      return storeFault(exchange, error);
    }
    if (verdict instanceof Promise) {
      return verdict.then(
        (v) => judged(exchange, v),
        (error: unknown) => storeFault(exchange, error),
      );
    }
    return judged(exchange, verdict);
  };
}
