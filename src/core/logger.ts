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
  // Asynchronous, bounded: pino's default stdout destination writes synchronously, so a log
  // reader that stops reading (a stalled pipe or collector) would block the event loop — and the
  // whole gateway, signal handling included. Here the buffer grows to 16 MiB and then drops
  // log lines instead; request records and the audit log are written to the database anyway.
  const destination = pino.destination({ dest: 1, sync: false, maxLength: 16 * 1024 * 1024 });
  boundExitFlush(destination as unknown as ExitFlushable);
  const logger = pino(base, destination);
  destinations.set(logger, destination as unknown as ExitFlushable);
  return logger;
}

const destinations = new WeakMap<Logger, ExitFlushable>();

interface ExitFlushable {
  flushSync(): void;
  retryEAGAIN: (...args: unknown[]) => boolean;
  _writing: boolean;
  _len: number;
  on(event: 'write', listener: () => void): void;
}

/**
 * pino flushes its buffer synchronously when the process exits. If the reader has stalled, that
 * write never returns (a blocking socket) or retries a full pipe every 100 ms forever, and the
 * process never exits. So: when an asynchronous write has been stuck for a second, skip the exit
 * flush (the reader is not reading; what is buffered is given up), and otherwise bound the
 * retries to about two seconds.
 */
function boundExitFlush(destination: ExitFlushable): void {
  const flushSync = destination.flushSync.bind(destination);
  let lastWrite = performance.now();
  destination.on('write', () => {
    lastWrite = performance.now();
  });
  destination.flushSync = () => {
    if (destination._writing && performance.now() - lastWrite > 1000) return;
    const retry = destination.retryEAGAIN;
    let attempts = 0;
    destination.retryEAGAIN = () => ++attempts < 20;
    try {
      flushSync();
    } catch {
      // The reader is gone or stalled: nothing more can be written.
    } finally {
      destination.retryEAGAIN = retry;
    }
  };
}

/**
 * Exit once buffered log lines are written — at most `waitMs` later, so a stalled reader cannot
 * hold the process — without any blocking write at exit (a synchronous write into a socket
 * nobody reads never returns).
 */
export function exitAfterFlush(logger: Logger, code: number, waitMs = 1000): void {
  const destination = destinations.get(logger);
  const deadline = performance.now() + waitMs;
  const attempt = () => {
    const drained = !destination || (destination._len === 0 && !destination._writing);
    if (drained || performance.now() > deadline) {
      if (destination) destination.flushSync = () => undefined;
      process.exit(code);
    }
    setTimeout(attempt, 10);
  };
  attempt();
}
