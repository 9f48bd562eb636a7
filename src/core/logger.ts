/**
 * Structured logs with pino: JSON by default, pretty on a terminal. Redaction is a second
 * line of defence — code must not log secrets in the first place.
 */
import { type Logger, pino } from 'pino';

export interface LoggerOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  /** Where logs go; defaults to stdout. Tests pass a stream to capture them. */
  destination?: NodeJS.WritableStream;
}

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  'secret',
  '*.secret',
  'key',
  '*.key',
  'password',
  '*.password',
  'token',
  '*.token',
];

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base = {
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'portcullis' },
  };
  if (options.destination) return pino(base, options.destination as unknown as pino.DestinationStream);
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' },
      },
    });
  }
  return pino(base);
}
