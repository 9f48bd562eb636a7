/**
 * Real services for integration suites. On a developer's machine a missing service skips
 * its suite with a message saying how to enable it; with CI=true a missing service fails
 * (a green CI must mean the suite really ran).
 */
import { connect } from 'node:net';
import { test } from 'node:test';

export const inCI = process.env['CI'] === 'true';

export const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL =
  process.env['PORTCULLIS_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Generous: on a loaded machine (CI, parallel suites) a local connect can take seconds. */
function reachable(url: string, defaultPort: number, timeoutMs = 5000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ServiceGate {
  /** Pass as the `skip` option of `describe`/`test`: false when available, else the reason. */
  skip: string | false;
}

/**
 * Decide whether a suite needing `name` can run. Must be awaited at module top level
 * before `describe` so the skip is decided before tests are registered.
 */
async function gate(name: string, url: string, defaultPort: number, howTo: string): Promise<ServiceGate> {
  if (await reachable(url, defaultPort)) return { skip: false };
  const message = `${name} not reachable at ${url}; ${howTo}`;
  if (inCI) {
    // Register a failing test so the run goes red and says why.
    test(`${name} is required in CI`, () => {
      throw new Error(message);
    });
    return { skip: message };
  }
  process.stderr.write(`[skip] ${message}\n`);
  return { skip: message };
}

export function redisGate(): Promise<ServiceGate> {
  return gate('Redis', REDIS_URL, 6379, 'start redis-server or set PORTCULLIS_TEST_REDIS_URL to enable');
}

export function postgresGate(): Promise<ServiceGate> {
  return gate(
    'PostgreSQL',
    POSTGRES_URL,
    5432,
    'start PostgreSQL or set PORTCULLIS_TEST_POSTGRES_URL (e.g. postgres://user@127.0.0.1:5432/db) to enable',
  );
}

/**
 * Command deadline for suites that check what Redis computes (counts, leases, contracts), not
 * how faults are handled: the production default (100 ms) is a fault-handling choice, and on a
 * loaded CI machine it would turn a slow but correct answer into a failed test. Fault suites
 * set their own short deadlines.
 */
export const ROOMY_COMMAND_TIMEOUT_MS = 5_000;

/** A name unique to this test process, for Redis key prefixes and PostgreSQL schemas. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
