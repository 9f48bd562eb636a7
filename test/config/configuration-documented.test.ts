import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { envName, fileKey, flagName, settingKeys } from '../../src/config/settings.js';

describe('docs/configuration.md documents every setting', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const key of settingKeys) {
    it(envName(key), () => {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${envName(key)}\` |`));
      assert.ok(row, `docs/configuration.md has no row for ${envName(key)}`);
      assert.ok(row.includes(`\`${flagName(key)}\``) && row.includes(`\`${fileKey(key)}\``));
    });
  }
  it('documents no setting that does not exist', () => {
    const known = new Set(settingKeys.map(envName));
    for (const match of doc.matchAll(/^\| `(PORTCULLIS_[A-Z_]+)` \|/gm))
      assert.ok(known.has(match[1] as string), match[1]);
  });
});
