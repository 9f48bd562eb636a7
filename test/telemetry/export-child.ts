/**
 * Child process for the export memory test: streams every request record of a database to a
 * file in the given format, then prints its peak resident memory (KiB) and the row count.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openStore } from '../../src/store/open-store.js';
import { formatRows } from '../../src/telemetry/export.js';

const [url, file, format, schema] = process.argv.slice(2) as [string, string, 'csv' | 'ndjson', string?];
const store = await openStore({ url, ...(schema ? { schema } : {}) });
let rows = 0;
async function* counted() {
  for await (const row of store.requestLogs.stream()) {
    rows++;
    yield row;
  }
}
await pipeline(
  Readable.from(formatRows(counted(), format, ['at', 'requestId', 'path', 'status'])),
  createWriteStream(file),
);
await store.close();
process.stdout.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, rows })}\n`);
