/**
 * Authorization, once the caller is known: the route's environment (a test key on a live route
 * and the other way round), grants (client → route → methods, for API-key and HMAC callers,
 * unless the route is open to all clients) and required scopes. Address rules come next (ip-rules.ts).
 */
import type { IdentityCatalog } from '../../identity/catalog.js';
import { deny } from '../decision.js';
import type { Stage } from '../types.js';

export function authorizeStage(identity: IdentityCatalog): Stage {
  return (exchange) => {
    const principal = exchange.principal;
    if (!principal || principal.kind === 'anonymous') return undefined;
    const route = exchange.match?.route;
    if (!route) return undefined;
    const spec = route.spec;
    if (
      spec.environment !== undefined &&
      principal.environment !== undefined &&
      principal.environment !== spec.environment
    ) {
      return deny('environment_mismatch', `this route accepts ${spec.environment} keys only`);
    }
    if ((principal.kind === 'api_key' || principal.kind === 'hmac') && !spec.open_to_all_clients) {
      const granted =
        principal.clientId === undefined ? undefined : identity.grant(principal.clientId, route.id);
      const method = exchange.facts.method;
      // HEAD rides on a GET grant, as it rides on the route's GET requirement.
      const allowed =
        granted && (granted.has('*') || granted.has(method) || (method === 'HEAD' && granted.has('GET')));
      if (!allowed) return deny('forbidden_route', 'this client has no grant for this route and method');
    }
    if (spec.scopes && spec.scopes.length > 0) {
      const held = new Set(principal.scopes);
      const missing = spec.scopes.filter((s) => !held.has(s));
      if (missing.length > 0) return deny('insufficient_scope', `missing scope: ${missing.join(' ')}`);
    }
    return undefined;
  };
}
