/**
 * The console's initial download (what index.html loads before the first page shows) stays
 * under 300 KB gzipped: a size budget, measured on the real build (`npm test` builds first).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { consoleDistDir } from '../../src/admin/console.js';

const BUDGET_BYTES = 300 * 1024;

test('initial console bundle is at most 300 KB gzipped', (t) => {
  const dir = consoleDistDir();
  assert.ok(dir, 'the console is built (npm run build)');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  // Everything index.html pulls in at load: module scripts, preloads and stylesheets.
  const refs = [...html.matchAll(/(?:src|href)="\/admin\/ui\/([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  assert.ok(
    refs.some((ref) => ref.endsWith('.js')),
    'index.html loads a script',
  );
  let raw = 0;
  let gzipped = 0;
  for (const ref of refs) {
    const body = readFileSync(join(dir, ref));
    raw += body.length;
    gzipped += gzipSync(body, { level: 9 }).length;
  }
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  t.diagnostic(`console initial bundle: ${kb(raw)} raw, ${kb(gzipped)} gzipped (${refs.join(', ')})`);
  assert.ok(gzipped <= BUDGET_BYTES, `initial bundle ${kb(gzipped)} gzipped exceeds ${kb(BUDGET_BYTES)}`);
});
