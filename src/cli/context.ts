/**
 * What a CLI command works on: the effective configuration and, for commands that change
 * things, the store (migrated) and the hot state used to announce the change to running
 * gateways. Running gateways also poll the store's config version, so a change made here
 * reaches them even when state is in memory.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
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

/** Who runs the CLI, for the audit log. */
function cliActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    return process.env['USER'] ?? process.env['LOGNAME'] ?? 'unknown';
  }
}

export interface StoreContext {
  config: LoadedConfig;
  store: Store;
  keys: SecretKeys;
  /** What identity operations need (store, derived keys, clock, key prefix). */
  identity: IdentityContext;
}

/** Open the store for one command; announce a configuration change if the command made one. */
export async function withStore<T>(command: Command, fn: (ctx: StoreContext) => Promise<T>): Promise<T> {
  const config = configFromCommand(command);
  const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
  const secret = await loadSecretKey({
    value: config.settings.secretKey,
    source: config.sources.secretKey.name,
    dataDir: config.settings.dataDir,
    logger,
  });
  const store = await openStore({ url: config.settings.databaseUrl as string, poolSize: 2, logger });
  try {
    await store.migrate();
    await checkKeyFingerprint(store, secret.key);
    const before = await store.configVersion();
    const keys = deriveSecretKeys(secret.key);
    // Every change a command makes is audited (actor: the OS user running the CLI).
    const audited = auditedStore(store, { actor: cliActor(), source: 'cli' }, systemClock);
    const identity: IdentityContext = {
      store: audited,
      keys,
      clock: systemClock,
      keyPrefix: config.settings.keyPrefix,
    };
    const result = await fn({ config, store: audited, keys, identity });
    const after = await store.configVersion();
    if (after !== before && config.settings.redisUrl) {
      // Best effort: gateways also notice through their version poll within a second.
      const state = await openState({
        redisUrl: config.settings.redisUrl,
        keyPrefix: sharedStatePrefix(secret.key),
        logger,
      }).catch(() => undefined);
      if (state) {
        await announceConfigChange(state, after).catch(() => undefined);
        await state.close();
      }
    }
    return result;
  } finally {
    await store.close();
  }
}
