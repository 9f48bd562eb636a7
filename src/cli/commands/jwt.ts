/** `portcullis jwt-providers add|list|remove` and `portcullis jwt mint` (test tokens). */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { mintJwt } from '../../auth/jwt/mint.js';
import {
  hsSecretFromInput,
  isJwtAlgorithm,
  type JwtAlgorithm,
  parseJwtProviderSpec,
  sealHsSecret,
  specForExport,
} from '../../auth/jwt/spec.js';
import { systemClock } from '../../core/clock.js';
import { NotFoundError } from '../../store/errors.js';
import { withStore } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { parseDuration, parseList } from '../parse.js';

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

function algorithms(value: string): JwtAlgorithm[] {
  const list = parseList(value) ?? [];
  for (const alg of list)
    if (!isJwtAlgorithm(alg))
      throw new CliError('invalid_input', `--algorithms: unknown algorithm "${alg}"`, EXIT_INVALID);
  return list as JwtAlgorithm[];
}

export function registerJwt(program: Command): void {
  const providers = program.command('jwt-providers').description('manage JWT providers');

  providers
    .command('add')
    .description('add a JWT provider: one of --jwks-url, --public-key-file, --secret-file')
    .requiredOption('--id <id>')
    .requiredOption('--algorithms <list>', 'allowed algorithms, fixed per provider (e.g. RS256)')
    .option('--jwks-url <url>', 'JWKS endpoint (https)')
    .option('--public-key-file <file>', 'PEM or JWK (JSON) public key')
    .option('--secret-file <file>', 'HS* shared secret (≥ 32 bytes); stored encrypted')
    .option('--issuer <iss>')
    .option('--audience <list>', 'comma-separated accepted audiences')
    .option('--clock-tolerance <seconds>', 'tolerance for exp/nbf/iat', '30')
    .option('--typ <typ>', 'required typ header (e.g. at+jwt)')
    .option('--max-age <duration>', 'refuse tokens issued longer ago (iat)')
    .option('--user-claim <claim>', 'claim holding the user id', 'sub')
    .option('--scopes-claim <claim>', 'claim holding the scopes (default scope, then scp)')
    .option('--client-claim <claim>', 'claim naming the client (e.g. azp or client_id)')
    .option('--json', 'print JSON')
    .action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
      const sources = ['jwksUrl', 'publicKeyFile', 'secretFile'].filter((k) => flags[k] !== undefined);
      if (sources.length !== 1)
        throw new CliError(
          'invalid_input',
          'give exactly one of --jwks-url, --public-key-file, --secret-file',
          EXIT_INVALID,
        );
      const algs = algorithms(flags['algorithms'] as string);
      const audience = parseList(flags['audience'] as string | undefined);
      const input: Record<string, unknown> = {
        id: flags['id'],
        algorithms: algs,
        clock_tolerance_s: Number(flags['clockTolerance']),
        claims: {
          user: flags['userClaim'],
          ...(flags['scopesClaim'] !== undefined ? { scopes: flags['scopesClaim'] } : {}),
          ...(flags['clientClaim'] !== undefined ? { client: flags['clientClaim'] } : {}),
        },
      };
      if (flags['issuer'] !== undefined) input['issuer'] = flags['issuer'];
      if (audience !== undefined) input['audience'] = audience.length === 1 ? audience[0] : audience;
      if (flags['typ'] !== undefined) input['typ'] = flags['typ'];
      if (flags['maxAge'] !== undefined)
        input['max_age_s'] = Math.floor(parseDuration('--max-age', flags['maxAge'] as string) / 1000);
      if (flags['jwksUrl'] !== undefined) input['jwks_url'] = flags['jwksUrl'];
      if (flags['publicKeyFile'] !== undefined) {
        const text = (await readText('--public-key-file', flags['publicKeyFile'] as string)).trim();
        input['public_key'] = text.startsWith('{') ? JSON.parse(text) : text;
      }
      await withStore(command, async ({ store, keys }) => {
        if (flags['secretFile'] !== undefined) {
          let raw: Buffer;
          try {
            raw = await readFile(flags['secretFile'] as string);
          } catch (error) {
            throw new CliError('file_unreadable', `--secret-file: ${(error as Error).message}`, EXIT_INVALID);
          }
          input['secret_encrypted'] = sealHsSecret(
            keys,
            hsSecretFromInput(raw, { algorithms: algs, at: '--secret-file' }),
          );
        }
        const spec = parseJwtProviderSpec(input);
        await store.jwtProviders.insert(spec.id, spec as unknown as Record<string, unknown>);
        if (flags['json']) printJson(specForExport(spec));
        else process.stdout.write(`JWT provider ${spec.id} added\n`);
      });
    });

  providers
    .command('list')
    .description('list JWT providers (secrets never shown)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const all = (await store.jwtProviders.list()).map((p) => specForExport(parseJwtProviderSpec(p.spec)));
        if (flags.json) printJson(all);
        else
          printTable(
            all.map((p) => ({
              id: p.id,
              algorithms: p.algorithms.join(','),
              key: p.jwks_url ?? (p.public_key !== undefined ? 'public key' : 'shared secret'),
              issuer: p.issuer ?? '-',
            })),
            ['id', 'algorithms', 'key', 'issuer'],
          );
      });
    });

  providers
    .command('remove')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        if (!(await store.jwtProviders.remove(id))) throw new NotFoundError('jwt provider', id);
        if (flags.json) printJson({ id, removed: true });
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
