/**
 * What the admin API works with. The same plugin serves the admin listener (callers
 * authenticate with a token or a session) and the CLI's local mode (the CLI builds the API
 * in-process around its own store and calls it with `inject`, as a fixed local principal), so
 * every CLI command is an admin API call and the two can never drift apart.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import type { Clock } from '../../core/clock.js';
import type { SecretKeys } from '../../core/crypto.js';
import type { IdentityContext } from '../../identity/operations.js';
import type { HotState } from '../../state/types.js';
import type { Store } from '../../store/types.js';

export type AdminRole = 'admin' | 'viewer';

/** Who is calling. `name` is what the audit log records as the actor. */
export interface Principal {
  kind: 'user' | 'token' | 'local';
  id: string;
  name: string;
  role: AdminRole;
  /** How the credential came: a cookie-authenticated write must pass the CSRF check. */
  via: 'bearer' | 'cookie' | 'local';
  /** The session's token hash (for logout and the CSRF token), when a session authenticated. */
  sessionHash?: string;
}

export interface AdminApiDeps {
  store: Store;
  keys: SecretKeys;
  clock: Clock;
  settings: Settings;
  logger: Logger;
  /** Hot state for login throttling and change announcements; absent in CLI local mode. */
  state?: HotState;
  /** CLI local mode: every call is made as this principal, and no credential is read. */
  localPrincipal?: Principal;
  /** Audit source for the local principal (`cli`); remote callers are recorded by address. */
  localSource?: string;
  /**
   * The running anomaly detector (run-now). Absent in CLI local mode; `POST /anomalies/run`
   * answers 409 then, and while detection is off.
   */
  anomalies?: { readonly enabled: boolean; runNow(): Promise<import('../../anomaly/service.js').RunResult> };
  /**
   * The instance registry of a running gateway (`GET /instances`). Absent in CLI local mode,
   * which has no instance of its own: the route answers 409 then.
   */
  instances?: { readonly id: string; list(): Promise<import('../../core/instances.js').InstanceView[]> };
}

/** The admin API's fastify instance, typed by the route schemas. */
export type AdminApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** One resource's routes (src/admin/api/resources/*.ts). */
export type ResourceRoutes = (app: AdminApp, deps: AdminApiDeps) => void;

/** What a handler gets for its request: the store audited as the caller, and the identity context. */
export interface RequestScope {
  principal: Principal;
  store: Store;
  identity: IdentityContext;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook for every /admin/api route except the public ones. */
    scope: RequestScope;
  }
  interface FastifyContextConfig {
    /**
     * Who may call a route: `public` (login, the OpenAPI document), `viewer` (reads), `admin`
     * (changes). Defaults: GET/HEAD → viewer, anything else → admin.
     */
    access?: 'public' | 'viewer' | 'admin';
  }
}
