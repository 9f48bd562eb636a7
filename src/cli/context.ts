/**
 * What a CLI command works on: the effective configuration and, for commands that change
 * things, the store (migrated) and the hot state used to announce the change to running
 * gateways. Running gateways also poll the store's config version, so a change made here
 * reaches them even when state is in memory.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { databaseConnection, redisConnection } from '../config/connections.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { type SettingKey, settingKeys } from '../config/settings.js';
import { systemClock } from '../core/clock.js';
import { announceConfigChange } from '../core/config-watcher.js';
import { deriveSecretKeys, type SecretKeys } from '../core/crypto.js';
import { createLogger } from '../core/logger.js';
import { checkKeyFingerprint, loadSecretKey, sharedStatePrefix } from '../core/secret-key.js';
import type { IdentityContext } from '../identity/operations.js';
import { openState } from '../state/open-state.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/types.js';
import { auditedStore } from '../telemetry/audit.js';
import {
  type AdminClient,
  cliActor,
  localAdminClient,
  remoteAdminClient,
  remoteTarget,
} from './admin-client.js';
import { CliError, EXIT_INVALID } from './errors.js';

export function configFromCommand(command: Command): LoadedConfig {
  const options = command.optsWithGlobals() as Record<string, unknown>;
  const flags: Partial<Record<SettingKey | 'config', string>> = {};
  for (const key of settingKeys) {
    const value = options[key];
    if (typeof value === 'string') flags[key] = value;
  }
  if (typeof options['config'] === 'string') flags.config = options['config'];
  return loadConfig({ flags });
}

export interface StoreContext {
  config: LoadedConfig;
  store: Store;
  keys: SecretKeys;
  /** What identity operations need (store, derived keys, clock, key prefix). */
  identity: IdentityContext;
}

interface LocalStore {
  config: LoadedConfig;
  store: Store;
  keys: SecretKeys;
  logger: Logger;
  /** Announce a configuration change (if one was made) to running gateways, then close. */
  finish(): Promise<void>;
}

/** Open and migrate the local store, checking it belongs to this secret key. */
async function openLocal(command: Command): Promise<LocalStore> {
  const config = configFromCommand(command);
  const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
  const secret = await loadSecretKey({
    value: config.settings.secretKey,
    source: config.sources.secretKey.name,
    dataDir: config.settings.dataDir,
    logger,
  });
  const store = await openStore({
    url: config.settings.databaseUrl as string,
    poolSize: 2,
    ...databaseConnection(config.settings),
    logger,
  });
  try {
    await store.migrate();
    await checkKeyFingerprint(store, secret.key);
  } catch (error) {
    await store.close();
    throw error;
  }
  const before = await store.configVersion();
  return {
    config,
    store,
    keys: deriveSecretKeys(secret.key),
    logger,
    async finish() {
      try {
        const after = await store.configVersion();
        if (after !== before && config.settings.redisUrl) {
          // Best effort: gateways also notice through their version poll within a second.
          const state = await openState({
            redisUrl: config.settings.redisUrl,
            redis: redisConnection(config.settings),
            keyPrefix: sharedStatePrefix(secret.key),
            logger,
          }).catch(() => undefined);
          if (state) {
            await announceConfigChange(state, after).catch(() => undefined);
            await state.close();
          }
        }
      } finally {
        await store.close();
      }
    },
  };
}

/** Open the store for one command; announce a configuration change if the command made one. */
export async function withStore<T>(command: Command, fn: (ctx: StoreContext) => Promise<T>): Promise<T> {
  if (remoteTarget(command))
    throw new CliError(
      'invalid_input',
      `${command.name()} works on the local store only (no --url)`,
      EXIT_INVALID,
    );
  const local = await openLocal(command);
  let failed = true;
  try {
    // Every change a command makes is audited (actor: the OS user running the CLI).
    const audited = auditedStore(local.store, { actor: cliActor(), source: 'cli' }, systemClock);
    const identity: IdentityContext = {
      store: audited,
      keys: local.keys,
      clock: systemClock,
      keyPrefix: local.config.settings.keyPrefix,
    };
    const result = await fn({ config: local.config, store: audited, keys: local.keys, identity });
    failed = false;
    return result;
  } finally {
    if (failed) await local.store.close();
    else await local.finish();
  }
}

/**
 * Run a command against the admin API: the remote one named by `--url`/PORTCULLIS_URL, or
 * the local store through the same API in-process (changes audited as the OS user, source
 * `cli`).
 */
export async function withAdmin<T>(command: Command, fn: (api: AdminClient) => Promise<T>): Promise<T> {
  const remote = remoteTarget(command);
  if (remote) return fn(remoteAdminClient(remote));
  const local = await openLocal(command);
  let failed = true;
  try {
    const actor = cliActor();
    const { client, close } = await localAdminClient({
      store: local.store,
      keys: local.keys,
      clock: systemClock,
      settings: local.config.settings,
      logger: local.logger,
      localPrincipal: { kind: 'local', id: actor, name: actor, role: 'admin', via: 'local' },
      localSource: 'cli',
    });
    try {
      const result = await fn(client);
      failed = false;
      return result;
    } finally {
      await close();
    }
  } finally {
    if (failed) await local.store.close();
    else await local.finish();
  }
}
