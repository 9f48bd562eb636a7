#!/usr/bin/env node
// Runs every compiled test file with node's test runner: the root's (dist/test/**/*.test.js)
// and each workspace package's (packages/*/dist/test/**/*.test.js, built by `npm run build`).
// Files are listed explicitly: Node 20 would otherwise treat every file under a
// `test/` folder (helpers, contract suites) as a test file.
// Usage: node scripts/run-tests.js [filter ...]   (filters match file paths)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const packages = join(root, 'packages');
const testDirs = [
  join(root, 'dist', 'test'),
  ...(existsSync(packages) ? readdirSync(packages).map((name) => join(packages, name, 'dist', 'test')) : []),
].filter((dir) => existsSync(dir));
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = testDirs
  .flatMap(walk)
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.PORTCULLIS_TEST_CONCURRENCY ?? '3';
const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit', cwd: root },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
