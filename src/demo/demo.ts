/**
 * Demo mode (PRODUCT.md §2): with no upstream configured and no route in the database,
 * `npm start` runs the bundled example upstream and serves demo routes to it. The demo is
 * kept in memory only — nothing is written to the database — and it withdraws itself as
 * soon as a real route exists.
 */
import { startExampleUpstream } from '../../examples/upstream/server.js';
import { generateApiKey } from '../auth/api-key/format.js';
import type { ListenAddress } from '../config/settings.js';
import type { Clock } from '../core/clock.js';
import { credentialHash, type SecretKeys } from '../core/crypto.js';
import type { IdentityCatalogOptions } from '../identity/catalog.js';
import { type PolicySpec, parsePolicySpec } from '../limits/policy.js';
import type { RouteSpec } from '../routing/spec.js';

export interface Demo {
  readonly upstreamUrl: string;
  readonly routes: readonly RouteSpec[];
  /** Rate-limit policies of the demo routes (in memory only). */
  readonly policies: readonly PolicySpec[];
  /** The demo client and key, served from memory only. */
  readonly identity: NonNullable<IdentityCatalogOptions['overlay']>;
  /** The demo API key in plaintext (printed in the banner; valid while this process runs). */
  readonly key: string;
  banner(proxy: ListenAddress, admin: ListenAddress): string;
  close(): Promise<void>;
}

export async function startDemo(options: {
  keyPrefix: string;
  keys: SecretKeys;
  clock: Clock;
}): Promise<Demo> {
  const upstream = await startExampleUpstream({ host: '127.0.0.1', port: 0 });
  const now = options.clock.now();
  const { key, displayPrefix } = generateApiKey(options.keyPrefix, 'live');
  const identity: Demo['identity'] = {
    clients: [
      {
        id: 'demo-client',
        name: 'Demo client',
        status: 'active',
        statusReason: null,
        metadata: {},
        createdAt: now,
        updatedAt: now,
      },
    ],
    grants: [{ clientId: 'demo-client', routeId: 'demo-orders', methods: ['*'] }],
    keys: [
      {
        hash: credentialHash(options.keys, key),
        entry: {
          key: {
            id: 'key_demo',
            clientId: 'demo-client',
            name: 'demo key',
            environment: 'live',
            scopes: ['orders:read'],
            expiresAt: null,
            ipAllow: [],
            ipDeny: [],
            bindingMode: 'off',
            maxIps: null,
            bindPrefixV4: null,
            bindPrefixV6: null,
            policy: null,
            usesBudget: null,
            budgetVersion: 0,
            usesConsumed: 0,
            status: 'active',
            revokedReason: null,
            revokedAt: null,
            createdAt: now,
            updatedAt: now,
            lastUsedAt: null,
          },
          secret: {
            hash: credentialHash(options.keys, key),
            keyId: 'key_demo',
            displayPrefix,
            createdAt: now,
            expiresAt: null,
          },
        },
      },
    ],
  };
  const policies: PolicySpec[] = [
    parsePolicySpec({
      id: 'demo-three-per-minute',
      algorithm: 'fixed_window',
      limit: 3,
      window: '60s',
      key_by: ['ip'],
    }),
  ];
  const routes: RouteSpec[] = [
    {
      id: 'demo-limited',
      description: 'DEMO: a public endpoint limited to 3 requests a minute per IP',
      host: '*',
      path: '/demo/limited',
      methods: { GET: ['public'] },
      policies: ['demo-three-per-minute'],
      upstream: { url: `${upstream.url}/hello`, strip_prefix: '/demo/limited' },
    },
    {
      id: 'demo-public',
      description: 'DEMO: public endpoints of the bundled example upstream',
      host: '*',
      path: '/demo/public/*',
      methods: { GET: ['public'] },
      upstream: { url: upstream.url, strip_prefix: '/demo/public' },
    },
    {
      id: 'demo-orders',
      description: 'DEMO: orders API that requires an API key',
      host: '*',
      path: '/demo/orders/*',
      methods: { GET: ['api_key'], POST: ['api_key'] },
      upstream: { url: upstream.url, strip_prefix: '/demo' },
    },
  ];
  return {
    upstreamUrl: upstream.url,
    routes,
    policies,
    identity,
    key,
    banner(proxy, admin) {
      const base = `http://${displayHost(proxy.host)}:${proxy.port}`;
      const adminBase = `http://${displayHost(admin.host)}:${admin.port}`;
      return [
        '',
        '  ┌─ DEMO MODE ───────────────────────────────────────────────────────────┐',
        '  │ No route is configured, so Portcullis is serving demo routes to its   │',
        '  │ bundled example upstream. Nothing is stored; the demo disappears when  │',
        '  │ you add a route (portcullis routes add / apply) or set                │',
        '  │ PORTCULLIS_UPSTREAM_URL. The demo key below works only while this     │',
        '  │ process runs.                                                         │',
        '  └───────────────────────────────────────────────────────────────────────┘',
        '',
        '  Try it (in another terminal):',
        `    curl -i ${base}/demo/public/hello                # 200 public route`,
        `    curl -N ${base}/demo/public/sse                  # 200 server-sent events, streamed`,
        `    curl -i ${base}/demo/orders                      # 401 missing_credentials`,
        `    curl -i -H 'Authorization: Bearer ${key}' ${base}/demo/orders   # 200 with the demo key`,
        `    for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' ${base}/demo/limited; done   # 200 200 200 429`,
        `    curl -i ${base}/demo/nowhere                     # 404 no_route`,
        `    curl -s ${adminBase}/readyz                      # readiness of each store`,
        '',
        `  Console: ${adminBase}/admin/ui/  (sign in as admin)`,
        '',
      ].join('\n');
    },
    close: () => upstream.close(),
  };
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
