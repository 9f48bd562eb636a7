/** `portcullis routes add|list|show|update|remove` */
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { type AuthMethod, parseRouteSpec, type RouteSpec } from '../../routing/spec.js';
import { RouteTable } from '../../routing/table.js';
import { NotFoundError } from '../../store/errors.js';
import type { Store } from '../../store/types.js';
import { withStore } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';

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

const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function integerFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new CliError('invalid_input', `${name} must be a whole number`, EXIT_INVALID);
  return Number(value);
}

/** Build the methods map from --methods, --auth and --method-auth on top of an existing one. */
function buildMethods(flags: RouteFlags, existing?: Record<string, AuthMethod[]>): Record<string, string[]> {
  const methods: Record<string, string[]> = {};
  const names = list(flags.methods)?.map((m) => m.toUpperCase()) ?? Object.keys(existing ?? { '*': [] });
  const auth = list(flags.auth);
  for (const name of names) methods[name] = auth ?? existing?.[name] ?? ['api_key'];
  for (const entry of flags.methodAuth ?? []) {
    const [method, value] = entry.split('=');
    if (!method || !value)
      throw new CliError(
        'invalid_input',
        `--method-auth expects METHOD=auth[,auth] (got "${entry}")`,
        EXIT_INVALID,
      );
    methods[method.toUpperCase()] = list(value) ?? [];
  }
  return methods;
}

function specFromFlags(flags: RouteFlags, base?: RouteSpec): unknown {
  const upstream = { ...(base?.upstream ?? {}) } as Record<string, unknown>;
  if (flags.upstream !== undefined) upstream['url'] = flags.upstream;
  if (flags.stripPrefix !== undefined) upstream['strip_prefix'] = flags.stripPrefix;
  const timeout = integerFlag('--timeout-ms', flags.timeoutMs);
  if (timeout !== undefined) upstream['timeout_ms'] = timeout;
  const retries = integerFlag('--retries', flags.retries);
  if (retries !== undefined) upstream['retries'] = retries;
  if (flags.preserveHost !== undefined) upstream['preserve_host'] = flags.preserveHost;
  const spec: Record<string, unknown> = { ...(base ?? {}) };
  if (flags.id !== undefined) spec['id'] = flags.id;
  if (flags.host !== undefined) spec['host'] = flags.host;
  if (flags.path !== undefined) spec['path'] = flags.path;
  if (flags.description !== undefined) spec['description'] = flags.description;
  if (flags.environment !== undefined) spec['environment'] = flags.environment;
  if (flags.scopes !== undefined) spec['scopes'] = list(flags.scopes);
  spec['upstream'] = upstream;
  spec['methods'] =
    flags.methods || flags.auth || flags.methodAuth || !base
      ? buildMethods(flags, base?.methods)
      : base.methods;
  return spec;
}

/** Refuse a change that would make the table ambiguous, naming both routes. */
async function checkTable(store: Store, spec: RouteSpec): Promise<void> {
  const others = (await store.routes.list()).map((r) => r.spec).filter((s) => s.id !== spec.id);
  RouteTable.compile([...others, spec], { upstreamTimeoutMs: 30_000 });
}

function methodsText(spec: RouteSpec): string {
  return Object.entries(spec.methods)
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
    const spec = parseRouteSpec(specFromFlags(flags));
    await withStore(command, async ({ store }) => {
      await checkTable(store, spec);
      const record = await store.routes.insert(spec);
      if (flags.json) printJson(record.spec);
      else
        process.stdout.write(`route ${spec.id} added (${spec.host} ${spec.path} → ${spec.upstream.url})\n`);
    });
  });

  addRouteFlags(
    routes.command('update').description('change fields of a route').argument('<id>', 'route id'),
  ).action(async (id: string, flags: RouteFlags, command: Command) => {
    await withStore(command, async ({ store }) => {
      const existing = await store.routes.get(id);
      if (!existing) throw new NotFoundError('route', id);
      const spec = parseRouteSpec(specFromFlags({ ...flags, id }, existing.spec));
      await checkTable(store, spec);
      const record = await store.routes.replace(spec);
      if (flags.json) printJson(record.spec);
      else process.stdout.write(`route ${id} updated\n`);
    });
  });

  routes
    .command('list')
    .description('list routes')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const records = await store.routes.list();
        if (flags.json) {
          printJson(records.map((r) => r.spec));
          return;
        }
        printTable(
          records.map((r) => ({
            id: r.spec.id,
            host: r.spec.host,
            path: r.spec.path,
            methods: methodsText(r.spec),
            upstream: r.spec.upstream.url,
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
      await withStore(command, async ({ store }) => {
        const record = await store.routes.get(id);
        if (!record) throw new NotFoundError('route', id);
        if (flags.json)
          printJson({ ...record.spec, created_at: record.createdAt, updated_at: record.updatedAt });
        else process.stdout.write(stringifyYaml(record.spec, { lineWidth: 0 }));
      });
    });

  routes
    .command('remove')
    .description('remove a route')
    .argument('<id>', 'route id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        if (!(await store.routes.remove(id))) throw new NotFoundError('route', id);
        if (flags.json) printJson({ id, removed: true });
        else process.stdout.write(`route ${id} removed\n`);
      });
    });
}
