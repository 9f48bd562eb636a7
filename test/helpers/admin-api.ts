/**
 * The admin API in-process over a real store (SQLite file or a PostgreSQL schema of its
 * own), with tokens of each role, for resource tests grouped by status. Calls go through
 * fastify's `inject`: the same routing, hooks, validation and serialization as the listener.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pino from 'pino';
import type { AdminApiDeps } from '../../src/admin/api/context.js';
import { API_PREFIX, registerAdminApi } from '../../src/admin/api/plugin.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/core/clock.js';
import { deriveSecretKeys } from '../../src/core/crypto.js';
import { createServiceToken } from '../../src/identity/operations.js';
import { MemoryState } from '../../src/state/memory.js';
import { openStore } from '../../src/store/open-store.js';
import type { ServiceTokenRole, Store } from '../../src/store/types.js';
import { POSTGRES_URL, postgresGate, uniqueName } from './services.js';

export type Dialect = 'sqlite' | 'postgres';

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean>;
  /** Bearer token; default the admin token. `null` sends no credential. */
  token?: string | null;
  headers?: Record<string, string>;
}

// biome-ignore lint/suspicious/noExplicitAny: as above
export interface CallResult<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface AdminHarness {
  app: FastifyInstance;
  store: Store;
  deps: AdminApiDeps;
  clock: ManualClock;
  tokens: Record<ServiceTokenRole, string>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers freely and check them with assertions
  call<T = any>(method: string, path: string, options?: CallOptions): Promise<CallResult<T>>;
  close(): Promise<void>;
}

/**
 * Every page of a list endpoint in turn, following `nextCursor`: each page must answer 200 with
 * at most `limit` items.
 */
export async function walkPages<T = { id: string }>(
  h: AdminHarness,
  path: string,
  query: Record<string, string | number | boolean>,
  limit: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await h.call('GET', path, {
      query: { ...query, limit, ...(cursor ? { cursor } : {}) },
      token: h.tokens.viewer,
    });
    assert.equal(page.status, 200, page.text);
    assert.ok(page.body.items.length <= limit);
    items.push(...page.body.items);
    cursor = page.body.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  return { items, pages };
}

/**
 * For every query and page size 1–3, walking the list gives exactly the ids `expected` names,
 * in order, and no empty last page.
 */
export async function assertPagesWalk<Q extends Record<string, string | number | boolean>>(
  h: AdminHarness,
  path: string,
  queries: readonly Q[],
  expected: (query: Q) => Promise<string[]>,
): Promise<void> {
  for (const query of queries) {
    const ids = await expected(query);
    for (const limit of [1, 2, 3]) {
      const { items, pages } = await walkPages(h, path, query, limit);
      const what = `${JSON.stringify(query)}, pages of ${limit}`;
      assert.deepEqual(
        items.map((item) => item.id),
        ids,
        what,
      );
      assert.equal(pages, Math.max(1, Math.ceil(ids.length / limit)), `${what}: no empty last page`);
    }
  }
}

/** Each cursor must be refused by the list endpoint with 422 naming `cursor`. */
export async function assertCursorsRefused(
  h: AdminHarness,
  path: string,
  cursors: readonly string[],
): Promise<void> {
  for (const cursor of cursors) {
    const answer = await h.call('GET', path, { query: { cursor } });
    assert.equal(answer.status, 422, `${cursor}: ${answer.text}`);
    assert.equal(answer.body.code, 'invalid_input');
    assert.match(answer.body.detail, /^cursor: /);
  }
}

export async function adminHarness(dialect: Dialect): Promise<AdminHarness> {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const schema = dialect === 'postgres' ? uniqueName('pc_admin') : undefined;
  const store =
    dialect === 'postgres'
      ? await openStore({ url: POSTGRES_URL, schema, clock, poolSize: 4 })
      : await openStore({ url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'pcl-admin-')), 'p.db')}`, clock });
  await store.migrate();
  const keys = deriveSecretKeys(Buffer.alloc(32, 7));
  const state = new MemoryState({ clock });
  const deps: AdminApiDeps = {
    store,
    keys,
    clock,
    settings: loadConfig({ env: {}, cwd: tmpdir() }).settings,
    logger: pino({ level: 'silent' }),
    state,
  };
  const app = Fastify({ logger: false });
  await registerAdminApi(app, deps);
  await app.ready();
  const identity = { store, keys, clock, keyPrefix: 'pcl' };
  const tokens = {} as Record<ServiceTokenRole, string>;
  for (const role of ['admin', 'viewer', 'verifier'] as const)
    tokens[role] = (await createServiceToken(identity, { name: `${role} token`, role })).token;
  return {
    app,
    store,
    deps,
    clock,
    tokens,
    async call<T>(method: string, path: string, options: CallOptions = {}): Promise<CallResult<T>> {
      const token = options.token === undefined ? tokens.admin : options.token;
      const query = options.query
        ? `?${new URLSearchParams(Object.entries(options.query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`
        : '';
      const response = await app.inject({
        method: method as 'GET',
        url: `${API_PREFIX}${path}${query}`,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body === undefined
          ? {}
          : { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
      });
      let body: unknown;
      try {
        body = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        body = undefined;
      }
      return { status: response.statusCode, body: body as T, text: response.body, headers: response.headers };
    },
    async close() {
      await app.close();
      await state.close();
      if (schema) await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
    },
  };
}

const pgGate = await postgresGate();

/** Register `suite` once per database (PostgreSQL skipped, or failed in CI, when absent). */
export function forEachDialect(name: string, suite: (open: () => Promise<AdminHarness>) => void): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    describe(`${name} (${dialect})`, { skip: dialect === 'postgres' ? pgGate.skip : false }, () =>
      suite(() => adminHarness(dialect)),
    );
  }
}
