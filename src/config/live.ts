/**
 * Live settings: the few settings an operator changes on a running fleet without a restart
 * (failsafe mode, intercept alert thresholds, access-log sampling, anomaly detection mode). The configured value is
 * the base; an override set through the admin API is stored in the database, so it reaches
 * every instance through the configuration change signal (Redis pub/sub, and the version
 * poll as a safety net) and survives restarts. Removing the override returns to the
 * configured value. Each value is parsed by the same rule as in the configuration file.
 */
import { type Settings, settingDefs } from './settings.js';

export const LIVE_SETTING_KEYS = [
  'failsafe',
  'interceptAlertThreshold',
  'interceptAlertWindowS',
  'accessLogSample',
  'anomalyDetection',
] as const;
export type LiveSettingKey = (typeof LIVE_SETTING_KEYS)[number];
export type LiveValues = Pick<Settings, LiveSettingKey>;
export type LiveOverrides = Partial<LiveValues>;

export function isLiveSettingKey(key: string): key is LiveSettingKey {
  return (LIVE_SETTING_KEYS as readonly string[]).includes(key);
}

/**
 * Parse raw override values (strings or numbers, as an API body or a stored document holds
 * them). Throws `{ key, message }` for the first bad one.
 */
export function parseLiveOverrides(raw: Record<string, unknown>): LiveOverrides {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!isLiveSettingKey(key)) throw new LiveSettingError(key, 'is not a live setting');
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new LiveSettingError(key, 'expected a string or a number');
    try {
      out[key] = settingDefs[key].parse(String(value));
    } catch (error) {
      throw new LiveSettingError(key, (error as Error).message);
    }
  }
  return out as LiveOverrides;
}

export class LiveSettingError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = 'LiveSettingError';
    this.key = key;
  }
}

/** The current values, read at the moment of use by the parts that honour them. */
export class LiveSettings implements LiveValues {
  readonly #base: LiveValues;
  #overrides: LiveOverrides = {};
  failsafe: LiveValues['failsafe'];
  interceptAlertThreshold: number;
  interceptAlertWindowS: number;
  accessLogSample: number;
  anomalyDetection: LiveValues['anomalyDetection'];

  constructor(settings: Settings) {
    this.#base = {
      failsafe: settings.failsafe,
      interceptAlertThreshold: settings.interceptAlertThreshold,
      interceptAlertWindowS: settings.interceptAlertWindowS,
      accessLogSample: settings.accessLogSample,
      anomalyDetection: settings.anomalyDetection,
    };
    this.failsafe = this.#base.failsafe;
    this.interceptAlertThreshold = this.#base.interceptAlertThreshold;
    this.interceptAlertWindowS = this.#base.interceptAlertWindowS;
    this.accessLogSample = this.#base.accessLogSample;
    this.anomalyDetection = this.#base.anomalyDetection;
  }

  get overrides(): LiveOverrides {
    return { ...this.#overrides };
  }

  /** Replace the overrides (all of them: a key absent here returns to its configured value). */
  apply(overrides: LiveOverrides): void {
    this.#overrides = { ...overrides };
    const merged = { ...this.#base, ...overrides };
    this.failsafe = merged.failsafe;
    this.interceptAlertThreshold = merged.interceptAlertThreshold;
    this.interceptAlertWindowS = merged.interceptAlertWindowS;
    this.accessLogSample = merged.accessLogSample;
    this.anomalyDetection = merged.anomalyDetection;
  }
}
