/**
 * The one migration set for both dialects. To add a migration: write `NNNN-name.ts` next to
 * this file and append one line to MIGRATIONS. Names must sort after every earlier name
 * (Kysely refuses out-of-order histories), hence the zero-padded number. Migrations are
 * forward-only: a release never edits or removes an entry.
 */
import { type Kysely, type Migration, Migrator } from 'kysely';
import type { DialectAdapter } from '../dialect.js';
import type { Database, MigrationReport } from '../types.js';
import { core0001 } from './0001-core.js';
import { identity0002 } from './0002-identity.js';
import { policies0003 } from './0003-policies.js';
import { ipControls0004 } from './0004-ip-controls.js';
import { requestLogs0005 } from './0005-request-logs.js';
import { auditUsage0006 } from './0006-audit-usage.js';
import { adminAuth0007 } from './0007-admin-auth.js';
import { anomalies0008 } from './0008-anomalies.js';
import { usageLatency0009 } from './0009-usage-latency.js';
import { bindingPages0010 } from './0010-binding-pages.js';
import { listPages0011 } from './0011-list-pages.js';
import { usageRoute0012 } from './0012-usage-route.js';
import { clientGrantPages0013 } from './0013-client-grant-pages.js';

/** A migration whose SQL depends on the dialect (collations, expression indexes). */
type DialectMigration = (adapter: DialectAdapter) => Migration;

export const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: Migration | DialectMigration]> = [
  ['0001_core', core0001],
  ['0002_identity', identity0002],
  ['0003_policies', policies0003],
  ['0004_ip_controls', ipControls0004],
  ['0005_request_logs', requestLogs0005],
  ['0006_audit_usage', auditUsage0006],
  ['0007_admin_auth', adminAuth0007],
  ['0008_anomalies', anomalies0008],
  ['0009_usage_latency', usageLatency0009],
  ['0010_binding_pages', bindingPages0010],
  ['0011_list_pages', listPages0011],
  ['0012_usage_route', usageRoute0012],
  ['0013_client_grant_pages', clientGrantPages0013],
];

/** Every migration by name, those that depend on the dialect built for `adapter`. */
export function migrationsFor(adapter: DialectAdapter): Record<string, Migration> {
  return Object.fromEntries(
    MIGRATIONS.map(([name, migration]) => [
      name,
      typeof migration === 'function' ? migration(adapter) : migration,
    ]),
  );
}

/** Apply every pending migration; safe to call from several processes at once. */
export async function migrateToLatest(
  db: Kysely<Database>,
  adapter: DialectAdapter,
): Promise<MigrationReport> {
  return adapter.withMigrationLock(db, async (executor) => {
    const migrator = new Migrator({
      db: executor,
      provider: { getMigrations: async () => migrationsFor(adapter) },
      migrationTableSchema: await adapter.migrationTableSchema(executor),
    });
    const { error, results = [] } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results.find((r) => r.status === 'Error')?.migrationName;
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        failed ? `database migration ${failed} failed: ${reason}` : `database migration failed: ${reason}`,
        { cause: error },
      );
    }
    return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) };
  });
}
