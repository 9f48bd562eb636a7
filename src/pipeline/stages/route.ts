import { authFor } from '../../routing/compile.js';
import type { RouteMatch, RouteTable } from '../../routing/table.js';
import { deny } from '../decision.js';
import type { Stage } from '../types.js';

/**
 * Match the route and the method's auth requirement. The table is read through a getter so
 * a configuration change swaps it atomically between requests.
 */
export function routeStage(currentTable: () => RouteTable): Stage {
  return (exchange) => {
    const { facts } = exchange;
    const table = currentTable();
    let match: RouteMatch | 'case_conflict' | undefined;
    if (facts.routeId !== undefined) {
      const route = table.byId(facts.routeId);
      match = route ? { route, params: undefined } : undefined;
    } else {
      match = table.match(facts.hostname, facts.port, facts.path);
    }
    if (match === 'case_conflict') {
      return deny(
        'bad_request_path',
        'the path differs only in letter case from a path another route serves',
      );
    }
    if (!match) return deny('no_route', 'no route matches this host and path');
    const requirement = authFor(match.route, facts.method);
    if (!requirement) {
      return deny('method_not_allowed', `method ${facts.method} is not served by this route`, [
        ['allow', match.route.allow],
      ]);
    }
    exchange.match = match;
    exchange.requirement = requirement;
    return undefined;
  };
}
