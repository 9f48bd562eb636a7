#!/usr/bin/env node
/**
 * Regenerates the settings table of docs/configuration.md from src/config/settings.ts (run
 * after `npm run build`): `node scripts/settings-table.js`. A test checks the table stays
 * complete; this keeps writing it mechanical.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  envName,
  fileKey,
  flagName,
  PRESETS,
  settingDefs,
  settingKeys,
} from '../dist/src/config/settings.js';

const docPath = new URL('../docs/configuration.md', import.meta.url);
const show = (value) => {
  if (value === undefined) return '`(unset)`';
  if (Array.isArray(value)) return value.length === 0 ? '`(none)`' : `\`${value.join(',')}\``;
  if (typeof value === 'object' && value !== null && 'port' in value)
    return `\`${value.host}:${value.port}\``;
  return `\`${String(value)}\``;
};
const rows = settingKeys.map((key) => {
  const def = settingDefs[key];
  let defaults;
  if (typeof def.default === 'function') {
    const values = PRESETS.map((preset) => [preset, show(def.default(preset))]);
    defaults =
      new Set(values.map(([, v]) => v)).size === 1
        ? values[0][1]
        : values.map(([p, v]) => `${p}: ${v}`).join('<br>');
  } else defaults = show(def.default);
  const secret = def.secret ? ' **(secret: masked)**' : '';
  return `| \`${envName(key)}\` | \`${flagName(key)}\` | \`${fileKey(key)}\` | ${defaults} | ${def.description}${secret} |`;
});
const doc = readFileSync(docPath, 'utf8');
const header = '| variable | flag | file key | default | meaning |\n|---|---|---|---|---|\n';
const start = doc.indexOf(header);
if (start === -1) throw new Error('settings table header not found in docs/configuration.md');
const bodyStart = start + header.length;
let end = bodyStart;
while (doc.startsWith('| `PORTCULLIS_', end)) end = doc.indexOf('\n', end) + 1;
writeFileSync(docPath, `${doc.slice(0, bodyStart)}${rows.join('\n')}\n${doc.slice(end)}`);
process.stdout.write(`docs/configuration.md: ${rows.length} settings\n`);
