/**
 * The CLI speaks the admin API, always. With `--url` (or PORTCULLIS_URL) it calls a remote
 * admin listener with `--token` (or PORTCULLIS_TOKEN); without, it builds the same API
 * in-process around the local store and calls it through `inject` as the local operator.
 * One implementation of every operation, so local and remote output cannot differ.
 */
import { userInfo } from 'node:os';
import { Readable } from 'node:stream';
import { createTransport, isPortcullisError } from '@portcullis/sdk';
import type { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AdminApiDeps } from '../admin/api/context.js';
import { API_PREFIX, registerAdminApi } from '../admin/api/plugin.js';
import { VERSION } from '../core/version.js';
import type { Problem } from '../errors/catalog.js';
import { CliError, EXIT_FAILURE, EXIT_INVALID } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface AdminClient {
  /** Where the calls go, for messages: `local` or the remote URL. */
  readonly target: string;
  call<T = unknown>(method: string, path: string, options?: { query?: Query; body?: unknown }): Promise<T>;
  get<T = unknown>(path: string, query?: Query): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  patch<T = unknown>(path: string, body: unknown): Promise<T>;
  put<T = unknown>(path: string, body: unknown): Promise<T>;
  delete<T = unknown>(path: string, query?: Query): Promise<T>;
  /** Every item of a paged list, following `nextCursor`. */
  all<T = unknown>(path: string, query?: Query): Promise<T[]>;
  /** A streamed body (exports), as bytes. */
  stream(path: string, query?: Query): Promise<Readable>;
}

/** Who runs the CLI, for the audit log of local changes. */
export function cliActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    return process.env['USER'] ?? process.env['LOGNAME'] ?? 'unknown';
  }
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** A problem answer becomes a CliError with the problem's code; 400/422 mean bad input (exit 2). */
export function problemError(status: number, body: unknown): CliError {
  const problem = (body ?? {}) as Partial<Problem>;
  const code = typeof problem.code === 'string' ? problem.code : status >= 500 ? 'internal_error' : 'failed';
  const message = problem.detail ?? problem.title ?? `HTTP ${status}`;
  return new CliError(code, message, status === 400 || status === 422 ? EXIT_INVALID : EXIT_FAILURE);
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type Send = (method: string, url: string, body: unknown) => Promise<{ status: number; text: string }>;

function clientOver(target: string, send: Send, stream: AdminClient['stream']): AdminClient {
  const call = async <T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}) => {
    const { status, text } = await send(
      method,
      `${API_PREFIX}${path}${queryString(options.query)}`,
      options.body,
    );
    const body = parseBody(text);
    if (status >= 400) throw problemError(status, body);
    return body as T;
  };
  return {
    target,
    call,
    get: (path, query) => call('GET', path, { query }),
    post: (path, body) => call('POST', path, { body }),
    patch: (path, body) => call('PATCH', path, { body }),
    put: (path, body) => call('PUT', path, { body }),
    delete: (path, query) => call('DELETE', path, { query }),
    async all<T>(path: string, query: Query = {}) {
      const out: T[] = [];
      let cursor: string | undefined;
      do {
        const page = await call<{ items: T[]; nextCursor: string | null }>('GET', path, {
          query: { ...query, limit: 1000, cursor },
        });
        out.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return out;
    },
    stream,
  };
}

/** The API in-process, as `principal` (CLI local mode). */
export async function localAdminClient(
  deps: AdminApiDeps,
): Promise<{ client: AdminClient; close: () => Promise<void> }> {
  const app: FastifyInstance = Fastify({ logger: false });
  // No OpenAPI document in-process: nobody can ask for it, and building it costs start-up time.
  await registerAdminApi(app, deps, { openapi: false });
  await app.ready();
  const send: Send = async (method, url, body) => {
    const response = await app.inject({
      method: method as 'GET',
      url,
      ...(body === undefined
        ? {}
        : { payload: body as object, headers: { 'content-type': 'application/json' } }),
    });
    return { status: response.statusCode, text: response.body };
  };
  const stream: AdminClient['stream'] = async (path, query) => {
    const response = await app.inject({
      method: 'GET',
      url: `${API_PREFIX}${path}${queryString(query)}`,
      payloadAsStream: true,
    });
    if (response.statusCode >= 400) {
      const chunks: Buffer[] = [];
      for await (const chunk of response.stream()) chunks.push(Buffer.from(chunk as Buffer));
      throw problemError(response.statusCode, parseBody(Buffer.concat(chunks).toString('utf8')));
    }
    return response.stream();
  };
  return { client: clientOver('local', send, stream), close: () => app.close() };
}

export interface RemoteOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
}

/** An SDK failure as the CLI reports it: the problem's code, or `unreachable` without an answer. */
function cliErrorOf(error: unknown, origin: string): CliError {
  if (!isPortcullisError(error)) return error as CliError;
  if (error.status !== undefined)
    return problemError(error.status, error.problem ?? { code: error.code, detail: error.detail });
  // No answer at all (network, timeout, open breaker); the SDK never puts the token in a message.
  return new CliError(
    'unreachable',
    `admin API at ${origin} did not answer (${error.code}: ${error.message})`,
  );
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A remote admin listener over HTTP, through the SDK's transport (timeouts, retries of reads). */
export function remoteAdminClient(options: RemoteOptions): AdminClient {
  let transport: ReturnType<typeof createTransport>;
  try {
    transport = createTransport({
      // Keep a path prefix (an admin listener published under /portcullis, say).
      baseUrl: `${options.url.replace(/\/+$/, '')}${API_PREFIX}`,
      ...(options.token ? { token: options.token } : {}),
      timeoutMs: options.timeoutMs ?? 30_000,
      userAgent: `portcullis-cli/${VERSION}`,
      // One command is a handful of calls: a breaker has nothing to protect here.
      breaker: false,
    });
  } catch (error) {
    // The SDK's own reason (bad URL, credentials in the URL, a malformed token); the value
    // itself is not echoed: it may carry a password or the token.
    throw new CliError('invalid_input', `--url/--token: ${(error as Error).message}`, EXIT_INVALID);
  }
  const target = new URL(options.url);
  const origin = target.origin;
  if (options.token && target.protocol === 'http:' && !LOOPBACK.has(target.hostname))
    process.stderr.write(
      `warning: sending the admin token to ${origin} unencrypted; use https:// (or a tunnel) beyond this machine\n`,
    );
  const send: Send = async (method, url, body) => {
    const { pathname, search } = new URL(url, 'http://x');
    try {
      const answer = await transport.request({
        method,
        path: `${pathname.slice(API_PREFIX.length)}${search}`,
        ...(body === undefined ? {} : { body }),
      });
      return {
        status: 200,
        text: answer === undefined ? '' : typeof answer === 'string' ? answer : JSON.stringify(answer),
      };
    } catch (error) {
      throw cliErrorOf(error, origin);
    }
  };
  const stream: AdminClient['stream'] = async (path, query) => {
    try {
      const response = await transport.requestRaw({ method: 'GET', path, ...(query ? { query } : {}) });
      if (!response.body) return Readable.from([]);
      return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    } catch (error) {
      throw cliErrorOf(error, origin);
    }
  };
  return clientOver(origin, send, stream);
}

/** `--url`/`--token` (or PORTCULLIS_URL/PORTCULLIS_TOKEN) when the command should go remote. */
export function remoteTarget(command: Command): RemoteOptions | undefined {
  const options = command.optsWithGlobals() as { url?: string; token?: string };
  const url = options.url ?? process.env['PORTCULLIS_URL'];
  if (url === undefined || url === '') return undefined;
  const token = options.token ?? process.env['PORTCULLIS_TOKEN'];
  return { url, ...(token ? { token } : {}) };
}
