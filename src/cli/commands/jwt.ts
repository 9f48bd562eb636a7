/**
 * `portcullis jwt-providers add|list|show|update|remove` (admin API /jwt-providers) and
 * `portcullis jwt mint` (test tokens: local, needs neither a store nor an API).
 * Key files are read here and their content sent; a shared secret travels to the API once
 * (base64, byte for byte) and is never shown again.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { mintJwt } from '../../auth/jwt/mint.js';
import { type ExportedJwtProviderSpec, hsSecretFromInput, isJwtAlgorithm } from '../../auth/jwt/spec.js';
import { systemClock } from '../../core/clock.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { parseDuration, parseList, parseWhole } from '../parse.js';

async function readText(option: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(
      'file_unreadable',
      `${option}: cannot read ${file}: ${(error as Error).message}`,
      EXIT_INVALID,
    );
  }
}

async function readBytes(option: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new CliError('file_unreadable', `${option}: ${(error as Error).message}`, EXIT_INVALID);
  }
}

/** What the API answers: the exported spec, which key source it has, and timestamps. */
type ProviderView = ExportedJwtProviderSpec & {
  key_source: 'jwks_url' | 'public_key' | 'shared_secret';
  created_at: string;
  updated_at: string;
};

/** The spec alone, as `--json` printed it before the API existed. */
function specOf(view: ProviderView): ExportedJwtProviderSpec {
  const { key_source: _k, created_at: _c, updated_at: _u, ...spec } = view;
  return spec;
}

const path = (id: string) => `/jwt-providers/${encodeURIComponent(id)}`;

type Flags = Record<string, string | boolean | undefined>;

/**
 * The request body from flags. `update`: only what is given, and an empty value clears an
 * optional setting (--issuer '', --audience '', --typ '', --max-age '', --scopes-claim '',
 * --client-claim '').
 */
async function bodyFromFlags(flags: Flags, update: boolean): Promise<Record<string, unknown>> {
  const sources = ['jwksUrl', 'publicKeyFile', 'secretFile'].filter((k) => flags[k] !== undefined);
  if (update ? sources.length > 1 : sources.length !== 1)
    throw new CliError(
      'invalid_input',
      `give ${update ? 'at most' : 'exactly'} one of --jwks-url, --public-key-file, --secret-file`,
      EXIT_INVALID,
    );
  const text = (name: string) => flags[name] as string | undefined;
  const cleared = (name: string) => update && text(name) === '';
  const body: Record<string, unknown> = {};
  if (text('id') !== undefined) body['id'] = text('id');
  if (text('algorithms') !== undefined) body['algorithms'] = parseList(text('algorithms'));
  if (text('jwksUrl') !== undefined) body['jwks_url'] = text('jwksUrl');
  if (text('publicKeyFile') !== undefined)
    body['public_key'] = (await readText('--public-key-file', text('publicKeyFile') as string)).trim();
  if (text('secretFile') !== undefined)
    body['secret_base64'] = (await readBytes('--secret-file', text('secretFile') as string)).toString(
      'base64',
    );
  if (text('issuer') !== undefined) body['issuer'] = cleared('issuer') ? null : text('issuer');
  if (text('audience') !== undefined) {
    const audience = parseList(text('audience')) ?? [];
    body['audience'] = cleared('audience') ? null : audience.length === 1 ? audience[0] : audience;
  }
  if (text('clockTolerance') !== undefined)
    body['clock_tolerance_s'] = parseWhole('--clock-tolerance', text('clockTolerance'));
  if (text('typ') !== undefined) body['typ'] = cleared('typ') ? null : text('typ');
  if (text('maxAge') !== undefined)
    body['max_age_s'] = cleared('maxAge')
      ? null
      : Math.floor(parseDuration('--max-age', text('maxAge') as string) / 1000);
  const claims: Record<string, unknown> = {};
  if (text('userClaim') !== undefined) claims['user'] = text('userClaim');
  for (const [flag, claim] of [
    ['scopesClaim', 'scopes'],
    ['clientClaim', 'client'],
  ] as const) {
    if (text(flag) !== undefined) claims[claim] = cleared(flag) ? null : text(flag);
  }
  if (Object.keys(claims).length > 0) body['claims'] = claims;
  return body;
}

function providerOptions(command: Command, update: boolean): Command {
  const optional = (flag: string, description: string, fallback?: string) =>
    update || fallback === undefined
      ? command.option(flag, description)
      : command.option(flag, description, fallback);
  optional('--jwks-url <url>', 'JWKS endpoint (https)');
  optional('--public-key-file <file>', 'PEM or JWK (JSON) public key');
  optional('--secret-file <file>', 'HS* shared secret (≥ 32 bytes); stored encrypted');
  optional('--issuer <iss>', update ? 'required iss (empty to clear)' : 'required iss');
  optional('--audience <list>', `comma-separated accepted audiences${update ? ' (empty to clear)' : ''}`);
  optional('--clock-tolerance <seconds>', 'tolerance for exp/nbf/iat', '30');
  optional('--typ <typ>', `required typ header (e.g. at+jwt)${update ? '; empty to clear' : ''}`);
  optional(
    '--max-age <duration>',
    `refuse tokens issued longer ago (iat)${update ? '; empty to clear' : ''}`,
  );
  optional('--user-claim <claim>', 'claim holding the user id', 'sub');
  optional('--scopes-claim <claim>', 'claim holding the scopes (default scope, then scp)');
  optional('--client-claim <claim>', 'claim naming the client (e.g. azp or client_id)');
  return command.option('--json', 'print JSON');
}

export function registerJwt(program: Command): void {
  const providers = program.command('jwt-providers').description('manage JWT providers');

  providerOptions(
    providers
      .command('add')
      .description('add a JWT provider: one of --jwks-url, --public-key-file, --secret-file')
      .requiredOption('--id <id>')
      .requiredOption('--algorithms <list>', 'allowed algorithms, fixed per provider (e.g. RS256)'),
    false,
  ).action(async (flags: Flags, command: Command) => {
    const body = await bodyFromFlags(flags, false);
    await withAdmin(command, async (api) => {
      const spec = specOf(await api.post<ProviderView>('/jwt-providers', body));
      if (flags['json']) printJson(spec);
      else process.stdout.write(`JWT provider ${spec.id} added\n`);
    });
  });

  providers
    .command('list')
    .description('list JWT providers (secrets never shown)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<ProviderView>('/jwt-providers');
        if (flags.json) printJson(all.map(specOf));
        else
          printTable(
            all.map((p) => ({
              id: p.id,
              algorithms: p.algorithms.join(','),
              key: p.jwks_url ?? (p.key_source === 'public_key' ? 'public key' : 'shared secret'),
              issuer: p.issuer ?? '-',
            })),
            ['id', 'algorithms', 'key', 'issuer'],
          );
      });
    });

  providers
    .command('show')
    .description('show one JWT provider (a shared secret is never shown)')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const view = await api.get<ProviderView>(path(id));
        if (flags.json) printJson(view);
        else process.stdout.write(stringifyYaml(view, { lineWidth: 0 }));
      });
    });

  providerOptions(
    providers
      .command('update')
      .description('change a JWT provider; a new key source replaces the old one')
      .argument('<id>')
      .option('--algorithms <list>', 'allowed algorithms (replaces the list)'),
    true,
  ).action(async (id: string, flags: Flags, command: Command) => {
    const body = await bodyFromFlags(flags, true);
    await withAdmin(command, async (api) => {
      const spec = specOf(await api.patch<ProviderView>(path(id), body));
      if (flags['json']) printJson(spec);
      else process.stdout.write(`JWT provider ${id} updated\n`);
    });
  });

  providers
    .command('remove')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(path(id));
        if (flags.json) printJson(removed);
        else process.stdout.write(`JWT provider ${id} removed\n`);
      });
    });

  program
    .command('jwt')
    .description('JWT helpers')
    .command('mint')
    .description('mint a test token (prints it)')
    .requiredOption('--algorithm <alg>')
    .option('--private-key-file <file>', 'PEM private key (RS/PS/ES/EdDSA)')
    .option('--secret-file <file>', 'HS* shared secret')
    .option('--issuer <iss>')
    .option('--audience <aud>')
    .option('--subject <sub>')
    .option('--scopes <list>')
    .option('--client <id>', 'client id claim')
    .option('--client-claim <claim>', 'claim name for --client', 'client_id')
    .option('--kid <kid>')
    .option('--typ <typ>')
    .option('--expires <duration>', 'lifetime', '1h')
    .option('--json', 'print JSON')
    .action(async (flags: Record<string, string | boolean | undefined>) => {
      const alg = flags['algorithm'] as string;
      if (!isJwtAlgorithm(alg))
        throw new CliError('invalid_input', `--algorithm: unknown algorithm "${alg}"`, EXIT_INVALID);
      const token = await mintJwt({
        algorithm: alg,
        ...(flags['secretFile'] !== undefined
          ? {
              secret: hsSecretFromInput(await readFile(flags['secretFile'] as string), {
                algorithms: [alg],
                at: '--secret-file',
              }),
            }
          : {}),
        ...(flags['privateKeyFile'] !== undefined
          ? { privateKeyPem: await readText('--private-key-file', flags['privateKeyFile'] as string) }
          : {}),
        ...(flags['issuer'] !== undefined ? { issuer: flags['issuer'] as string } : {}),
        ...(flags['audience'] !== undefined ? { audience: flags['audience'] as string } : {}),
        ...(flags['subject'] !== undefined ? { subject: flags['subject'] as string } : {}),
        ...(flags['scopes'] !== undefined ? { scopes: parseList(flags['scopes'] as string) ?? [] } : {}),
        ...(flags['client'] !== undefined
          ? { clientId: flags['client'] as string, clientClaim: flags['clientClaim'] as string }
          : {}),
        ...(flags['kid'] !== undefined ? { kid: flags['kid'] as string } : {}),
        ...(flags['typ'] !== undefined ? { typ: flags['typ'] as string } : {}),
        expiresInS: Math.floor(parseDuration('--expires', flags['expires'] as string) / 1000),
        clock: systemClock,
      });
      if (flags['json']) printJson({ token });
      else process.stdout.write(`${token}\n`);
    });
}
