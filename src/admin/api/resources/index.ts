/** Every admin API resource. A new resource is one module in this folder and one line here. */
import type { ResourceRoutes } from '../context.js';
import { anomalyRoutes } from './anomalies.js';
import { auditRoutes } from './audit.js';
import { bindingRoutes } from './bindings.js';
import { blockRoutes } from './blocks.js';
import { clientRoutes } from './clients.js';
import { declarativeRoutes } from './declarative.js';
import { grantRoutes } from './grants.js';
import { instanceRoutes } from './instances.js';
import { jwtProviderRoutes } from './jwt-providers.js';
import { keyRoutes } from './keys.js';
import { logRoutes } from './logs.js';
import { policyRoutes } from './policies.js';
import { routeRoutes } from './routes.js';
import { settingsRoutes } from './settings.js';
import { statsRoutes } from './stats.js';
import { tokenRoutes } from './tokens.js';
import { usageRoutes } from './usage.js';
import { userRoutes } from './users.js';

export const resources: readonly ResourceRoutes[] = [
  clientRoutes,
  keyRoutes,
  tokenRoutes,
  routeRoutes,
  grantRoutes,
  declarativeRoutes,
  policyRoutes,
  jwtProviderRoutes,
  bindingRoutes,
  blockRoutes,
  logRoutes,
  usageRoutes,
  auditRoutes,
  userRoutes,
  settingsRoutes,
  anomalyRoutes,
  statsRoutes,
  instanceRoutes,
];
