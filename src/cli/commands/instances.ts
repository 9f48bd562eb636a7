/**
 * `portcullis instances` — the gateways alive now, from their heartbeats in the shared state.
 * With --url it asks a running gateway (admin API /instances). Without, there is no admin API
 * to build around the local store: instances live in the hot state, not the database. So it
 * reads Redis itself when PORTCULLIS_REDIS_URL is set, and otherwise says why it cannot see any.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { instanceView } from '../../admin/api/resources/instances.js';
import { redisConnection } from '../../config/connections.js';
import { listInstances } from '../../core/instances.js';
import { createLogger } from '../../core/logger.js';
import { loadSecretKey, SECRET_KEY_FILE, sharedStatePrefix } from '../../core/secret-key.js';
import { openState } from '../../state/open-state.js';
import { remoteAdminClient, remoteTarget } from '../admin-client.js';
import { configFromCommand } from '../context.js';
import { CliError, EXIT_FAILURE } from '../errors.js';
import { printJson, printTable } from '../output.js';

export interface InstanceListView {
  items: ReturnType<typeof instanceView>[];
  state: string;
}

const COLUMNS = ['id', 'version', 'host', 'pid', 'worker', 'proxy', 'admin', 'degraded', 'up', 'last beat'];

/** A duration for people: 45s, 12m, 3h 20m, 2d 4h. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

function rows(list: InstanceListView, now: number): Array<Record<string, string>> {
  const dash = (value: string | number | null) => (value === null ? '-' : String(value));
  return list.items.map((i) => ({
    // The first 8 hex digits tell instances apart; --json has the whole id.
    id: `${i.id.slice(0, 8)}${i.self ? ' *' : ''}`,
    version: dash(i.version),
    host: dash(i.host),
    pid: dash(i.pid),
    worker: dash(i.worker),
    proxy: dash(i.proxy),
    admin: dash(i.admin),
    degraded: i.degraded ?? 'no',
    up: i.startedAt === null ? '-' : humanDuration(now - Date.parse(i.startedAt)),
    'last beat': `${humanDuration(now - Date.parse(i.lastBeatAt))} ago`,
  }));
}

/** Read the instance list straight from Redis, as the gateways sharing it write it. */
async function readLocal(command: Command): Promise<InstanceListView> {
  const config = configFromCommand(command);
  const settings = config.settings;
  if (!settings.redisUrl)
    throw new CliError(
      'conflict',
      'state is in memory (no PORTCULLIS_REDIS_URL): each gateway knows only itself and a local CLI ' +
        'cannot see any. Ask a running gateway: portcullis instances --url http://127.0.0.1:8081 --token …',
      EXIT_FAILURE,
    );
  // The keys in Redis are prefixed by the secret key's fingerprint; never create a key here.
  if (settings.secretKey === undefined && !existsSync(join(settings.dataDir, SECRET_KEY_FILE)))
    throw new CliError(
      'conflict',
      `no secret key here (PORTCULLIS_SECRET_KEY or ${join(settings.dataDir, SECRET_KEY_FILE)}): ` +
        'the gateways’ entries in Redis are found by it. Run in their directory, set the key, or use --url',
      EXIT_FAILURE,
    );
  const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
  const secret = await loadSecretKey({
    value: settings.secretKey,
    source: config.sources.secretKey.name,
    dataDir: settings.dataDir,
    logger,
  });
  const state = await openState({
    redisUrl: settings.redisUrl,
    redis: { commandTimeoutMs: Math.max(settings.redisTimeout, 1000), ...redisConnection(settings) },
    keyPrefix: sharedStatePrefix(secret.key),
    logger,
  });
  try {
    const instances = await listInstances(state);
    return { items: instances.map((i) => instanceView(i, '')), state: state.kind };
  } finally {
    await state.close();
  }
}

export function registerInstances(program: Command): void {
  program
    .command('instances')
    .description(
      'gateway instances alive now (id, version, addresses, degraded mode): from a running gateway with --url, or from PORTCULLIS_REDIS_URL',
    )
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const remote = remoteTarget(command);
      const list = remote
        ? await remoteAdminClient(remote).get<InstanceListView>('/instances')
        : await readLocal(command);
      if (flags.json) {
        printJson(list);
        return;
      }
      printTable(rows(list, Date.now()), COLUMNS);
      if (list.state === 'memory')
        process.stdout.write(
          'state is in memory: this gateway sees only itself (set PORTCULLIS_REDIS_URL to share state)\n',
        );
    });
}
