/**
 * The SDK's types are generated from the admin API's OpenAPI document and committed
 * (packages/sdk/openapi.json, packages/sdk/src/generated/admin-api.ts). Regenerating them from
 * the current code must give the committed files: otherwise the SDK describes another API.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('the committed SDK types match the admin API document (else: run npm run sdk:generate)', async () => {
  const run = promisify(execFile);
  try {
    await run(process.execPath, [join(ROOT, 'scripts', 'generate-sdk-types.js'), '--check'], { cwd: ROOT });
  } catch (error) {
    const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
    assert.fail(`the SDK types are stale: run npm run sdk:generate\n${stderr}${stdout}`);
  }
});
