/**
 * Export formats for records: NDJSON (one JSON object per line) and CSV (RFC 4180, header row).
 * Rows are formatted one at a time from an async source, so an export of any size holds one
 * chunk of rows in memory, never the table.
 *
 * CSV cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR)
 * are prefixed with a single quote: paths, user ids and client names come from callers, and an
 * exported log must not become an attack on whoever opens it (OWASP "CSV injection").
 */
export type ExportFormat = 'csv' | 'ndjson';

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export async function* formatRows<T extends object>(
  rows: AsyncIterable<T>,
  format: ExportFormat,
  columns: ReadonlyArray<keyof T & string>,
  view: (row: T) => Record<string, unknown> = (row) => row as Record<string, unknown>,
): AsyncIterable<string> {
  if (format === 'csv') yield `${columns.join(',')}\r\n`;
  for await (const row of rows) {
    const shown = view(row);
    if (format === 'ndjson') yield `${JSON.stringify(shown)}\n`;
    else yield `${columns.map((c) => csvCell(shown[c])).join(',')}\r\n`;
  }
}
