import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/gateway.js';

describe('portcullis admin users', () => {
  it('adds with a generated password, changes a password from stdin, disables and protects the last admin', async () => {
    const dir = tempDir();
    const cli = (args: string[], input?: string) => runCli(args, { cwd: dir, ...(input ? { input } : {}) });
    const added = await cli(['admin', 'users', 'add', 'ops', '--role', 'admin', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const user = JSON.parse(added.stdout) as { username: string; password: string };
    assert.equal(user.username, 'ops');
    assert.equal(user.password.length, 24);

    const changed = await cli(
      ['admin', 'users', 'update', 'ops', '--password-stdin'],
      'a brand new password\n',
    );
    assert.equal(changed.code, 0, changed.stderr);
    const short = await cli(['admin', 'users', 'update', 'ops', '--password-stdin'], 'short\n');
    assert.equal(short.code, 2);
    assert.match(short.stderr, /^error\[invalid_input\]/);
    assert.ok(!short.stderr.includes('short'), 'the refused password is not echoed');

    const listed = await cli(['admin', 'users', 'list', '--json']);
    const users = JSON.parse(listed.stdout) as Array<{ username: string; disabled: boolean }>;
    assert.deepEqual(
      users.map((u) => u.username),
      ['ops'],
    );
    assert.ok(!listed.stdout.includes('scrypt'));

    const last = await cli(['admin', 'users', 'update', 'ops', '--disable']);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /^error\[conflict\].*last active admin/);
    const both = await cli(['admin', 'users', 'update', 'ops', '--password-stdin', '--generate-password']);
    assert.equal(both.code, 2);
  });
});
