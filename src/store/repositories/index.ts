import type { Repositories } from '../types.js';
import type { RepositoryContext } from './context.js';
import { SqlMetaRepository } from './meta.js';
import { SqlRouteRepository } from './routes.js';

/** Every repository over one executor. A new repository is one line here and one in types.ts. */
export function createRepositories(ctx: RepositoryContext): Repositories {
  return Object.freeze({
    routes: new SqlRouteRepository(ctx),
    meta: new SqlMetaRepository(ctx),
  });
}
