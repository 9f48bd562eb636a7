import type { Repositories } from '../types.js';
import { SqlAdminSessionRepository } from './admin-sessions.js';
import { SqlAdminUserRepository } from './admin-users.js';
import { SqlAlertDeliveryRepository } from './alert-deliveries.js';
import { SqlAnomalyRepository } from './anomalies.js';
import { SqlApiKeyRepository } from './api-keys.js';
import { SqlAuditLogRepository } from './audit-log.js';
import { SqlBindingRepository } from './bindings.js';
import { SqlBlockRepository } from './blocks.js';
import { SqlClientRepository } from './clients.js';
import type { RepositoryContext } from './context.js';
import { SqlGrantRepository } from './grants.js';
import { SqlHmacSecretRepository } from './hmac-secrets.js';
import { SqlInterceptRepository } from './intercepts.js';
import { SqlJwtProviderRepository } from './jwt-providers.js';
import { SqlLiveSettingsRepository } from './live-settings.js';
import { SqlMetaRepository } from './meta.js';
import { SqlPolicyRepository } from './policies.js';
import { SqlRequestLogRepository } from './request-logs.js';
import { SqlRouteRepository } from './routes.js';
import { SqlServiceTokenRepository } from './service-tokens.js';
import { SqlUsageRepository } from './usage.js';

/** Every repository over one executor. A new repository is one line here and one in types.ts. */
export function createRepositories(ctx: RepositoryContext): Repositories {
  return Object.freeze({
    routes: new SqlRouteRepository(ctx),
    meta: new SqlMetaRepository(ctx),
    clients: new SqlClientRepository(ctx),
    apiKeys: new SqlApiKeyRepository(ctx),
    grants: new SqlGrantRepository(ctx),
    hmacSecrets: new SqlHmacSecretRepository(ctx),
    jwtProviders: new SqlJwtProviderRepository(ctx),
    serviceTokens: new SqlServiceTokenRepository(ctx),
    policies: new SqlPolicyRepository(ctx),
    blocks: new SqlBlockRepository(ctx),
    bindings: new SqlBindingRepository(ctx),
    intercepts: new SqlInterceptRepository(ctx),
    alertDeliveries: new SqlAlertDeliveryRepository(ctx),
    requestLogs: new SqlRequestLogRepository(ctx),
    auditLog: new SqlAuditLogRepository(ctx),
    usage: new SqlUsageRepository(ctx),
    adminUsers: new SqlAdminUserRepository(ctx),
    adminSessions: new SqlAdminSessionRepository(ctx),
    liveSettings: new SqlLiveSettingsRepository(ctx),
    anomalies: new SqlAnomalyRepository(ctx),
  });
}
