/**
 * Resolve the effective configuration. Precedence, highest first (PRODUCT.md §4):
 * command-line flags → process environment → `.env` in the working directory → config file
 * (`portcullis.yaml` or PORTCULLIS_CONFIG, section `settings:`) → preset defaults.
 * Every value remembers where it came from, for `config show` and for error messages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { splitUrlList } from '../state/redis-target.js';
import { CombinationError, checkCombinations } from './combinations.js';
import {
  envName,
  fileKey,
  flagName,
  type Preset,
  type RawValue,
  type SettingKey,
  type Settings,
  settingDefs,
  settingKeys,
} from './settings.js';

export type SourceKind = 'flag' | 'env' | 'dotenv' | 'file' | 'preset' | 'default';

export interface ValueSource {
  kind: SourceKind;
  /** The name the value was found under (flag, variable, file key) or the preset name. */
  name: string;
  /** The file a value came from (`.env` or config file). */
  file?: string;
}

export interface LoadedConfig {
  readonly settings: Settings;
  readonly sources: Readonly<Record<SettingKey, ValueSource>>;
  /** Config file that was read, if any. */
  readonly configFile: string | undefined;
  readonly cwd: string;
}

export function describeSource(source: ValueSource): string {
  switch (source.kind) {
    case 'flag':
      return `command-line flag ${source.name}`;
    case 'env':
      return `environment variable ${source.name}`;
    case 'dotenv':
      return `${source.name} in ${source.file}`;
    case 'file':
      return `${source.name} in ${source.file}`;
    case 'preset':
      return `preset ${source.name}`;
    case 'default':
      return 'default';
  }
}

/** Invalid configuration: names the key, the source of the value and the reason. Exit code 2. */
export class ConfigError extends Error {
  readonly key: string;
  readonly source: string;
  readonly reason: string;
  constructor(key: string, source: string, reason: string) {
    super(`invalid configuration: ${key} (from ${source}): ${reason}`);
    this.name = 'ConfigError';
    this.key = key;
    this.source = source;
    this.reason = reason;
  }
}

export interface LoadConfigInput {
  /** Values given as command-line flags, by setting key (plus `config` for the file path). */
  flags?: Partial<Record<SettingKey | 'config', string>>;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

interface Candidate {
  raw: RawValue;
  source: ValueSource;
}

export function loadConfig(input: LoadConfigInput = {}): LoadedConfig {
  const cwd = input.cwd ?? process.cwd();
  const env = input.env ?? process.env;
  const flags = input.flags ?? {};

  const dotenvPath = join(cwd, '.env');
  let dotenv: Record<string, string> = {};
  if (existsSync(dotenvPath)) {
    try {
      dotenv = parseDotenv(readFileSync(dotenvPath));
    } catch (error) {
      throw new ConfigError('.env', dotenvPath, `cannot be read: ${(error as Error).message}`);
    }
  }

  const { path: configFile, settings: fileSettings } = readConfigFile(
    cwd,
    flags.config,
    env,
    dotenv,
    dotenvPath,
  );

  const candidate = (key: SettingKey): Candidate | undefined => {
    const flag = flags[key];
    if (flag !== undefined) return { raw: flag, source: { kind: 'flag', name: flagName(key) } };
    const name = envName(key);
    const fromEnv = env[name];
    if (fromEnv !== undefined) return { raw: fromEnv, source: { kind: 'env', name } };
    const fromDotenv = dotenv[name];
    if (fromDotenv !== undefined)
      return { raw: fromDotenv, source: { kind: 'dotenv', name, file: dotenvPath } };
    const k = fileKey(key);
    if (fileSettings && Object.hasOwn(fileSettings, k)) {
      return {
        raw: fileSettings[k] as RawValue,
        source: { kind: 'file', name: `settings.${k}`, file: configFile as string },
      };
    }
    return undefined;
  };

  const values: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  const resolveKey = (key: SettingKey, preset: Preset) => {
    const definition = settingDefs[key] as (typeof settingDefs)[SettingKey];
    const found = candidate(key);
    if (found) {
      try {
        values[key] = (definition.parse as (raw: RawValue) => unknown)(found.raw);
      } catch (error) {
        const shown = definition.secret || typeof found.raw !== 'string' ? '' : ` (value "${found.raw}")`;
        throw new ConfigError(
          found.source.name,
          describeSource(found.source),
          `${(error as Error).message}${shown}`,
        );
      }
      sources[key] = found.source;
      return;
    }
    const fallback = definition.default;
    if (typeof fallback === 'function') {
      values[key] = (fallback as (p: Preset) => unknown)(preset);
      sources[key] = { kind: 'preset', name: preset };
    } else {
      values[key] = fallback;
      sources[key] = { kind: 'default', name: 'default' };
    }
  };

  resolveKey('preset', 'balanced');
  const preset = values['preset'] as Preset;
  for (const key of settingKeys) if (key !== 'preset') resolveKey(key, preset);

  // Derived default: the embedded database lives in the data folder.
  if (values['databaseUrl'] === undefined) {
    values['databaseUrl'] = `sqlite:${join(values['dataDir'] as string, 'portcullis.db')}`;
  }

  // Rules between settings (Redis Cluster and TLS, PostgreSQL TLS, the TLS files); TLS file
  // paths come back resolved against the working directory.
  try {
    Object.assign(values, checkCombinations(values as unknown as Settings, cwd));
  } catch (error) {
    if (!(error instanceof CombinationError)) throw error;
    const source = sources[error.key] as ValueSource;
    const name = source.kind === 'default' || source.kind === 'preset' ? envName(error.key) : source.name;
    throw new ConfigError(name, describeSource(source), error.message);
  }

  return Object.freeze({
    settings: Object.freeze(values) as unknown as Settings,
    sources: Object.freeze(sources) as Record<SettingKey, ValueSource>,
    configFile,
    cwd,
  });
}

function readConfigFile(
  cwd: string,
  flagPath: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  dotenv: Record<string, string>,
  dotenvPath: string,
): { path: string | undefined; settings: Record<string, unknown> | undefined } {
  let explicit: { path: string; source: string } | undefined;
  if (flagPath !== undefined) explicit = { path: flagPath, source: 'command-line flag --config' };
  else if (env['PORTCULLIS_CONFIG'])
    explicit = { path: env['PORTCULLIS_CONFIG'], source: 'environment variable PORTCULLIS_CONFIG' };
  else if (dotenv['PORTCULLIS_CONFIG'])
    explicit = { path: dotenv['PORTCULLIS_CONFIG'], source: `PORTCULLIS_CONFIG in ${dotenvPath}` };

  const path = explicit
    ? isAbsolute(explicit.path)
      ? explicit.path
      : resolve(cwd, explicit.path)
    : join(cwd, 'portcullis.yaml');
  if (!existsSync(path)) {
    if (explicit) throw new ConfigError('PORTCULLIS_CONFIG', explicit.source, `file not found: ${path}`);
    return { path: undefined, settings: undefined };
  }
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      'config file',
      path,
      `is not valid YAML: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  if (document === null || document === undefined) return { path, settings: undefined };
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError('config file', path, 'must be a YAML mapping');
  }
  const section = (document as Record<string, unknown>)['settings'];
  if (section === undefined || section === null) return { path, settings: undefined };
  if (typeof section !== 'object' || Array.isArray(section)) {
    throw new ConfigError('settings', path, 'must be a mapping of setting names to values');
  }
  const known = new Set(settingKeys.map(fileKey));
  for (const key of Object.keys(section)) {
    if (!known.has(key)) {
      throw new ConfigError(
        `settings.${key}`,
        path,
        `unknown setting; known settings: ${[...known].join(', ')}`,
      );
    }
  }
  return { path, settings: section as Record<string, unknown> };
}

/** Lines for `portcullis config show`: effective values with their source, secrets masked. */
export function explainConfig(
  config: LoadedConfig,
): Array<{ key: string; value: string; source: string; env: string }> {
  return settingKeys.map((key) => {
    const definition = settingDefs[key] as (typeof settingDefs)[SettingKey];
    const value = config.settings[key];
    let shown: string;
    if (value === undefined) shown = '(unset)';
    else if (definition.secret) shown = maskSecret(key, String(value));
    else if (typeof value === 'object' && value !== null && 'port' in value) {
      const v = value as { host: string; port: number };
      shown = `${v.host.includes(':') ? `[${v.host}]` : v.host}:${v.port}`;
    } else if (Array.isArray(value)) shown = value.length === 0 ? '(none)' : value.join(',');
    else shown = String(value);
    return {
      key: fileKey(key),
      value: shown,
      source: describeSource(config.sources[key]),
      env: envName(key),
    };
  });
}

/** Mask a secret; URLs keep scheme and host so operators can still tell which server is meant. */
export function maskSecret(key: SettingKey, value: string): string {
  if (key === 'redisUrl' && splitUrlList(value).length > 1) {
    // A Redis Cluster's seed nodes: each masked alike.
    return splitUrlList(value)
      .map((entry) => maskSecret(key, entry))
      .join(',');
  }
  if (key === 'databaseUrl' || key === 'redisUrl') {
    if (value.startsWith('sqlite:')) return value;
    try {
      const url = new URL(value);
      const auth = url.username || url.password ? '****@' : '';
      return `${url.protocol}//${auth}${url.host}${url.pathname}`;
    } catch {
      return '****';
    }
  }
  return '**** (set)';
}
