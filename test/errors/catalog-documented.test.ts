import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorCatalog } from '../../src/errors/catalog.js';

// Every code is public API: documented with its status in docs/errors.md, and nothing is
// documented that the catalog does not have.
describe('error catalog and docs/errors.md agree', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map<string, number>();
  for (const match of doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) {
    documented.set(match[1] as string, Number(match[2]));
  }

  for (const [code, entry] of Object.entries(errorCatalog)) {
    it(`${code} is documented with status ${entry.status}`, () => {
      assert.equal(
        documented.get(code),
        entry.status,
        `docs/errors.md must list \`${code}\` | ${entry.status}`,
      );
    });
  }

  it('documents no code the catalog lacks', () => {
    for (const code of documented.keys())
      assert.ok(Object.hasOwn(errorCatalog, code), `${code} is documented but not in the catalog`);
  });
});
