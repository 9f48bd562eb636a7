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
  { stdio: ['inherit', 'pipe', 'inherit'], cwd: root },
);

// The TAP report is passed through as it comes; the failures are also collected and printed
// again at the end, with the suites they sit in, because a CI log is often read from its tail
// and a run of thousands of tests buries one `not ok` in the middle.
const failures = collectFailures();
let pending = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const text = pending + chunk.toString('utf8');
  const lines = text.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) failures.line(line);
});
child.on('exit', (code, signal) => {
  if (pending) failures.line(pending);
  const report = failures.report();
  if (report) process.stdout.write(report);
  process.exit(signal ? 1 : (code ?? 1));
});

/** Follows the TAP stream: `# Subtest:` lines give the suite path, `not ok` starts a failure. */
function collectFailures() {
  const MAX_LINES = 40;
  const path = [];
  const found = [];
  let current = null;
  const indentOf = (line) => Math.floor((line.length - line.trimStart().length) / 4);
  return {
    line(line) {
      if (current) {
        if (current.lines.length < MAX_LINES) current.lines.push(line);
        if (line.trim() === '...' && indentOf(line) <= current.indent + 1) current = null;
        return;
      }
      const subtest = /^\s*# Subtest: (.*)$/.exec(line);
      if (subtest) {
        const depth = indentOf(line);
        path.length = depth;
        path[depth] = subtest[1];
        return;
      }
      if (/^\s*not ok \d+/.test(line)) {
        const depth = indentOf(line);
        current = { indent: depth, title: path.slice(0, depth + 1).join(' › '), lines: [line] };
        found.push(current);
      }
    },
    report() {
      // A suite fails when one of its tests does; its own entry says only that.
      const leaves = found.filter((f) => !f.lines.some((l) => l.includes("failureType: 'subtestsFailed'")));
      if (leaves.length === 0) return '';
      const out = [`\n# ${leaves.length} failing test(s), repeated from above:`];
      for (const f of leaves) out.push(`# ✗ ${f.title}`, ...f.lines.map((l) => `#   ${l.trim()}`));
      return `${out.join('\n')}\n`;
    },
  };
}
