/** `portcullis sign`: print (or run) a curl command carrying a valid HMAC signature (signed by the SDK). */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { signedCurl } from '@portcullis/sdk/signed-curl';
import type { Command } from 'commander';
import { CliError, EXIT_INVALID } from '../errors.js';
import { collect } from '../parse.js';

export function registerSign(program: Command): void {
  program
    .command('sign')
    .description('print a curl command with a valid HMAC signature (--run executes it)')
    .requiredOption('--client <id>', 'client id')
    .option('--secret <secret>', 'the client secret (prefer --secret-file or PORTCULLIS_HMAC_SECRET)')
    .option('--secret-file <file>', 'file holding the client secret')
    .option('-X, --method <method>', 'HTTP method', 'GET')
    .requiredOption('--url <url>', 'full URL, e.g. http://127.0.0.1:8080/v1/orders?x=1')
    .option('-d, --data <body>', 'request body')
    .option('-H, --header <header>', 'extra header "Name: value", repeatable', collect)
    .option('--run', 'run the command instead of printing it')
    .action(
      async (flags: {
        client: string;
        secret?: string;
        secretFile?: string;
        method: string;
        url: string;
        data?: string;
        header?: string[];
        run?: boolean;
      }) => {
        let secret = flags.secret ?? process.env['PORTCULLIS_HMAC_SECRET'];
        if (flags.secretFile !== undefined) secret = (await readFile(flags.secretFile, 'utf8')).trim();
        if (!secret)
          throw new CliError(
            'invalid_input',
            'give the client secret with --secret-file, --secret or PORTCULLIS_HMAC_SECRET',
            EXIT_INVALID,
          );
        const headers: Record<string, string> = {};
        for (const line of flags.header ?? []) {
          const colon = line.indexOf(':');
          if (colon <= 0)
            throw new CliError(
              'invalid_input',
              `--header expects "Name: value" (got "${line}")`,
              EXIT_INVALID,
            );
          headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
        }
        let command: string;
        try {
          command = signedCurl({
            url: flags.url,
            clientId: flags.client,
            secret,
            method: flags.method.toUpperCase(),
            ...(flags.data !== undefined ? { body: flags.data } : {}),
            headers,
          });
        } catch (error) {
          throw new CliError('invalid_input', (error as Error).message, EXIT_INVALID);
        }
        if (!flags.run) {
          process.stdout.write(`${command}\n`);
          return;
        }
        const child = spawn('/bin/sh', ['-c', command], { stdio: 'inherit' });
        const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
        if (code !== 0) process.exitCode = code;
      },
    );
}
