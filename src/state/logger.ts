/**
 * The slice of a logger this layer uses. pino's `Logger` satisfies it structurally, so the
 * composition root passes its logger unchanged and tests pass nothing.
 */
export interface StateLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: StateLogger = { info: noop, warn: noop, error: noop };
