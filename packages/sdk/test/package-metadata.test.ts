import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SDK_VERSION } from '../src/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  dependencies?: Record<string, string>;
};

test('SDK_VERSION (sent in the User-Agent) is the package version', () => {
  assert.equal(SDK_VERSION, pkg.version);
});

test('the SDK has no runtime dependencies', () => {
  assert.deepEqual(pkg.dependencies ?? {}, {});
});
