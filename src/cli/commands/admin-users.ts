/** `portcullis admin users list|add|show|update|remove` — people who log in (admin API /users). */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { randomBase62 } from '../../core/crypto.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';

interface UserView {
  id: string;
  username: string;
  role: string;
  disabled: boolean;
  createdAt: string;
  passwordChangedAt: string;
}

interface PasswordFlags {
  passwordFile?: string;
  passwordStdin?: boolean;
  generatePassword?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A password from a file, stdin, or generated (then printed once). Never a plain flag: it
 * would sit in the shell history and in the process list.
 */
async function passwordFrom(
  flags: PasswordFlags,
): Promise<{ password: string; generated: boolean } | undefined> {
  const given = [flags.passwordFile !== undefined, flags.passwordStdin, flags.generatePassword].filter(
    Boolean,
  );
  if (given.length > 1)
    throw new CliError(
      'invalid_input',
      'give at most one of --password-file, --password-stdin, --generate-password',
      EXIT_INVALID,
    );
  if (flags.passwordFile !== undefined)
    return { password: (await readFile(flags.passwordFile, 'utf8')).replace(/\r?\n$/, ''), generated: false };
  if (flags.passwordStdin) return { password: (await readStdin()).replace(/\r?\n$/, ''), generated: false };
  if (flags.generatePassword) return { password: randomBase62(24), generated: true };
  return undefined;
}

const passwordOptions = (command: Command): Command =>
  command
    .option('--password-file <file>', 'read the password from a file')
    .option('--password-stdin', 'read the password from standard input')
    .option('--generate-password', 'generate a random password and print it once');

const path = (user: string) => `/users/${encodeURIComponent(user)}`;

function printGenerated(username: string, password: string): void {
  process.stdout.write(`password for ${username} (shown once, store it now):\n\n  ${password}\n\n`);
}

export function registerAdminUsers(admin: Command): void {
  const users = admin
    .command('users')
    .description('admin users (people who log in to the admin API and console)');

  users
    .command('list')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<UserView>('/users');
        if (flags.json) printJson(all);
        else
          printTable(
            all.map((u) => ({
              username: u.username,
              role: u.role,
              disabled: u.disabled ? 'yes' : 'no',
              created: u.createdAt,
            })),
            ['username', 'role', 'disabled', 'created'],
          );
      });
    });

  passwordOptions(
    users
      .command('add')
      .description('add an admin user (without a password option, one is generated and printed once)')
      .argument('<username>')
      .requiredOption('--role <role>', 'admin (everything) or viewer (reads only)'),
  )
    .option('--json', 'print JSON')
    .action(
      async (username: string, flags: PasswordFlags & { role: string; json?: boolean }, command: Command) => {
        const secret = (await passwordFrom(flags)) ?? { password: randomBase62(24), generated: true };
        await withAdmin(command, async (api) => {
          const user = await api.post<UserView>('/users', {
            username,
            password: secret.password,
            role: flags.role,
          });
          if (flags.json) printJson(secret.generated ? { ...user, password: secret.password } : user);
          else {
            process.stdout.write(`admin user ${user.username} added (role ${user.role})\n`);
            if (secret.generated) printGenerated(user.username, secret.password);
          }
        });
      },
    );

  users
    .command('show')
    .argument('<user>', 'username or id')
    .option('--json', 'print JSON')
    .action(async (user: string, _flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => printJson(await api.get(path(user))));
    });

  passwordOptions(
    users
      .command('update')
      .description('change role, disable/enable, or set a password (the user’s sessions end)')
      .argument('<user>', 'username or id')
      .option('--role <role>', 'admin or viewer')
      .option('--disable', 'refuse logins and end sessions')
      .option('--enable', 'allow logins again'),
  )
    .option('--json', 'print JSON')
    .action(
      async (
        user: string,
        flags: PasswordFlags & { role?: string; disable?: boolean; enable?: boolean; json?: boolean },
        command: Command,
      ) => {
        if (flags.disable && flags.enable)
          throw new CliError('invalid_input', 'give --disable or --enable, not both', EXIT_INVALID);
        const secret = await passwordFrom(flags);
        const body = {
          role: flags.role,
          disabled: flags.disable ? true : flags.enable ? false : undefined,
          password: secret?.password,
        };
        await withAdmin(command, async (api) => {
          const updated = await api.patch<UserView>(path(user), body);
          if (flags.json) printJson(secret?.generated ? { ...updated, password: secret.password } : updated);
          else {
            process.stdout.write(`admin user ${updated.username} updated\n`);
            if (secret?.generated) printGenerated(updated.username, secret.password);
          }
        });
      },
    );

  users
    .command('remove')
    .argument('<user>', 'username or id')
    .option('--json', 'print JSON')
    .action(async (user: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(path(user));
        if (flags.json) printJson(removed);
        else process.stdout.write(`admin user ${user} removed\n`);
      });
    });
}
