/** `portcullis routes add|list|show|update|remove` (admin API /routes) */
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { collect, parseList } from '../parse.js';

interface RouteFlags {
  id?: string;
  host?: string;
  path?: string;
  upstream?: string;
  methods?: string;
  auth?: string;
  methodAuth?: string[];
  stripPrefix?: string;
  timeoutMs?: string;
  retries?: string;
  environment?: string;
  scopes?: string;
  description?: string;
  preserveHost?: boolean;
  json?: boolean;
}

type Methods = Record<string, string[]>;

/** A route as the API answers it: the spec (snake_case, as in the declarative file) and its times. */
interface RouteView {
  id: string;
  host: string;
  path: string;
  methods: Methods;
  upstream: { url: string };
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

const path = (id: string) => `/routes/${encodeURIComponent(id)}`;

/** What `--json` printed before the API: the bare spec. */
function specOf(route: RouteView): Record<string, unknown> {
  const { created_at: _created, updated_at: _updated, ...spec } = route;
  return spec;
}

function integerFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new CliError('invalid_input', `${name} must be a whole number`, EXIT_INVALID);
  return Number(value);
}

/** The methods map from --methods, --auth and --method-auth on top of an existing one. */
function buildMethods(flags: RouteFlags, existing?: Methods): Methods {
  const methods: Methods = {};
  const names = parseList(flags.methods)?.map((m) => m.toUpperCase()) ?? Object.keys(existing ?? { '*': [] });
  const auth = parseList(flags.auth);
  for (const name of names) methods[name] = auth ?? existing?.[name] ?? ['api_key'];
  for (const entry of flags.methodAuth ?? []) {
    const [method, value] = entry.split('=');
    if (!method || !value)
      throw new CliError(
        'invalid_input',
        `--method-auth expects METHOD=auth[,auth] (got "${entry}")`,
        EXIT_INVALID,
      );
    methods[method.toUpperCase()] = parseList(value) ?? [];
  }
  return methods;
}

/** The spec fields the flags name (for `add`, the whole spec; for `update`, a merge patch). */
function fieldsFromFlags(flags: RouteFlags): Record<string, unknown> {
  const upstream: Record<string, unknown> = {};
  if (flags.upstream !== undefined) upstream['url'] = flags.upstream;
  if (flags.stripPrefix !== undefined) upstream['strip_prefix'] = flags.stripPrefix;
  const timeout = integerFlag('--timeout-ms', flags.timeoutMs);
  if (timeout !== undefined) upstream['timeout_ms'] = timeout;
  const retries = integerFlag('--retries', flags.retries);
  if (retries !== undefined) upstream['retries'] = retries;
  if (flags.preserveHost !== undefined) upstream['preserve_host'] = flags.preserveHost;
  const fields: Record<string, unknown> = {};
  if (flags.id !== undefined) fields['id'] = flags.id;
  if (flags.host !== undefined) fields['host'] = flags.host;
  if (flags.path !== undefined) fields['path'] = flags.path;
  if (flags.description !== undefined) fields['description'] = flags.description;
  if (flags.environment !== undefined) fields['environment'] = flags.environment;
  if (flags.scopes !== undefined) fields['scopes'] = parseList(flags.scopes);
  fields['upstream'] = upstream;
  return fields;
}

function methodsText(methods: Methods): string {
  return Object.entries(methods)
    .map(([m, a]) => `${m}:${a.join('|')}`)
    .join(' ');
}

function addRouteFlags(command: Command): Command {
  return command
    .option('--host <host>', 'api.example.com, *.example.com or * (default *)')
    .option('--path <path>', 'exact /v1/orders, parameter /v1/orders/:id, or prefix /v1/orders/*')
    .option('--upstream <url>', 'upstream URL, e.g. http://orders.internal:3000')
    .option('--methods <list>', 'methods served, comma-separated (default: all, written *)')
    .option(
      '--auth <list>',
      'auth for those methods: public, api_key, hmac, jwt, or a comma list meaning any (default api_key)',
    )
    .option('--method-auth <METHOD=auth>', 'auth for one method, repeatable (e.g. POST=hmac)', collect)
    .option('--strip-prefix <prefix>', 'path prefix removed before forwarding')
    .option('--timeout-ms <ms>', 'time to the upstream response headers')
    .option('--retries <n>', 'retries of body-less idempotent requests on connection failure')
    .option('--environment <env>', 'live or test: keys of the other environment are refused')
    .option('--scopes <list>', 'scopes a credential must carry')
    .option('--preserve-host', "forward the client's Host header")
    .option('--description <text>', 'free text')
    .option('--json', 'print JSON');
}

export function registerRoutes(program: Command): void {
  const routes = program.command('routes').description('manage routes');

  addRouteFlags(
    routes.command('add').description('add a route').requiredOption('--id <id>', 'route id'),
  ).action(async (flags: RouteFlags, command: Command) => {
    const body = { ...fieldsFromFlags(flags), methods: buildMethods(flags) };
    await withAdmin(command, async (api) => {
      const route = await api.post<RouteView>('/routes', body);
      if (flags.json) printJson(specOf(route));
      else
        process.stdout.write(
          `route ${route.id} added (${route.host} ${route.path} → ${route.upstream.url})\n`,
        );
    });
  });

  addRouteFlags(
    routes.command('update').description('change fields of a route').argument('<id>', 'route id'),
  ).action(async (id: string, flags: RouteFlags, command: Command) => {
    // A merge patch: what the flags do not name is kept, upstream fields one by one.
    const patch: Record<string, unknown> = fieldsFromFlags(flags);
    await withAdmin(command, async (api) => {
      if (flags.methods !== undefined || flags.auth !== undefined) {
        // --methods and --auth are relative to the methods the route has: fetch them.
        const existing = (await api.get<RouteView>(path(id))).methods;
        const methods: Record<string, string[] | null> = buildMethods(flags, existing);
        for (const name of Object.keys(existing)) if (!(name in methods)) methods[name] = null;
        patch['methods'] = methods;
      } else if (flags.methodAuth !== undefined) {
        patch['methods'] = buildMethods(flags, {});
      }
      const route = await api.patch<RouteView>(path(id), patch);
      if (flags.json) printJson(specOf(route));
      else process.stdout.write(`route ${id} updated\n`);
    });
  });

  routes
    .command('list')
    .description('list routes')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<RouteView>('/routes');
        if (flags.json) {
          printJson(all.map(specOf));
          return;
        }
        printTable(
          all.map((r) => ({
            id: r.id,
            host: r.host,
            path: r.path,
            methods: methodsText(r.methods),
            upstream: r.upstream.url,
          })),
          ['id', 'host', 'path', 'methods', 'upstream'],
        );
      });
    });

  routes
    .command('show')
    .description('show one route')
    .argument('<id>', 'route id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const route = await api.get<RouteView>(path(id));
        // --json keeps its shape from before the API: the times as epoch milliseconds.
        if (flags.json)
          printJson({
            ...specOf(route),
            created_at: Date.parse(route.created_at),
            updated_at: Date.parse(route.updated_at),
          });
        else process.stdout.write(stringifyYaml(specOf(route), { lineWidth: 0 }));
      });
    });

  routes
    .command('remove')
    .description('remove a route')
    .argument('<id>', 'route id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(path(id));
        if (flags.json) printJson(removed);
        else process.stdout.write(`route ${id} removed\n`);
      });
    });
}
