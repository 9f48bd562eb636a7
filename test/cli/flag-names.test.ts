/**
 * Every configuration setting is also a flag on the root command (`--proxy-listen …`). Commander
 * gives a root option precedence over a subcommand's option of the same name, so a setting named
 * like a subcommand flag would silently swallow that flag (`keys create --ip-allow` once did).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

function walk(command: Command, out: Array<{ path: string; flag: string }>, path = ''): void {
  for (const sub of command.commands) {
    const here = `${path} ${sub.name()}`.trim();
    for (const option of sub.options) if (option.long) out.push({ path: here, flag: option.long });
    walk(sub, out, here);
  }
}

describe('CLI flag names', () => {
  it('no subcommand option shares its name with a root (setting) option', () => {
    const program = buildProgram();
    const root = new Set(program.options.map((o) => o.long).filter((l): l is string => l !== undefined));
    const subOptions: Array<{ path: string; flag: string }> = [];
    walk(program, subOptions);
    assert.ok(subOptions.length > 50, 'the walk found the subcommands');
    const clashes = subOptions.filter((o) => root.has(o.flag) && o.flag !== '--help');
    assert.deepEqual(clashes, []);
  });
});
