/**
 * A table whose rows open a detail dialog: each row carries a button for keyboard and screen
 * reader users (named after the row's visible text); a click anywhere else in the row does the
 * same for mouse users. Used by the Logs and Audit log pages.
 */
import { type MouseEvent, type ReactNode, useCallback, useState } from 'react';
import type { Column } from '../components/data-table';
import { formatNumber } from '../lib/format';
import './logs.css';

/**
 * The row shown in the detail dialog. Each opening gets a new `key` for the Dialog: a native
 * dialog's close event arrives a task after it closes, so a row opened quickly after Escape
 * would otherwise be closed again by the previous dialog's late event.
 */
export function useOpenRecord<T>() {
  const [state, setState] = useState<{ record: T | null; key: number }>({ record: null, key: 0 });
  const open = useCallback((record: T) => setState((s) => ({ record, key: s.key + 1 })), []);
  // Closing keeps the key, so the same element closes and gives focus back to the row.
  const close = useCallback(() => setState((s) => ({ record: null, key: s.key })), []);
  return { record: state.record, key: state.key, open, close };
}

/** Opens a row: the one interactive element of the row's main cell. */
export function OpenButton({ onOpen, children }: { onOpen: () => void; children: ReactNode }) {
  return (
    <button type="button" className="link-button" onClick={onOpen}>
      {children}
    </button>
  );
}

/** React keys for rows: identical duplicates (a batch written twice) get distinct ones. */
function uniqueKeys<T>(rows: readonly T[], rowKey: (row: T) => string): string[] {
  const seen = new Map<string, number>();
  return rows.map((row) => {
    const key = rowKey(row);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return n === 0 ? key : `${key}#${n}`;
  });
}

/** Mouse convenience only: ignores clicks on links and buttons, and text being selected. */
function openFromRow(event: MouseEvent<HTMLTableRowElement>, open: () => void) {
  const target = event.target as Element;
  if (target.closest('a, button, input, select, textarea, label')) return;
  if (window.getSelection()?.toString()) return;
  open();
}

export function RecordTable<T>({
  caption,
  rows,
  columns,
  rowKey,
  onOpen,
  rowClass,
  onLoadMore,
  loadingMore,
  className,
}: {
  caption: string;
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  onOpen: (row: T) => void;
  rowClass?: (row: T) => string | undefined;
  onLoadMore?: (() => void) | undefined;
  loadingMore?: boolean;
  className?: string;
}) {
  const keys = uniqueKeys(rows, rowKey);
  return (
    <div className="table-wrap">
      <table className={className ? `striped record-table ${className}` : 'striped record-table'}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.header} scope="col" className={column.numeric ? 'num' : column.className}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, index) => (
            <tr
              key={keys[index]}
              className={rowClass?.(row)}
              onClick={(event) => openFromRow(event, () => onOpen(row))}
            >
              {columns.map((column) => (
                <td key={column.header} className={column.numeric ? 'num' : column.className}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {onLoadMore ? (
        <button
          type="button"
          className="secondary outline"
          onClick={onLoadMore}
          aria-busy={loadingMore}
          disabled={loadingMore}
        >
          Load more
        </button>
      ) : null}
    </div>
  );
}

/** A value that may be missing, shown as a dash. */
export function Maybe({ value, code }: { value: string | number | null | undefined; code?: boolean }) {
  if (value === null || value === undefined || value === '')
    return (
      <span className="muted" title="none">
        —
      </span>
    );
  return code ? <code>{value}</code> : value;
}

/** One labelled value of a record's detail (`wide` takes the whole line). */
export function Item({ label, wide, children }: { label: string; wide?: boolean; children: ReactNode }) {
  return (
    <div className={wide ? 'wide' : undefined}>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** How many rows are shown, and a way back to everything when filters are on. */
export function RecordSummary({
  shown,
  noun,
  more,
  onClear,
}: {
  shown: number;
  noun: [string, string];
  more: boolean;
  onClear?: (() => void) | undefined;
}) {
  return (
    <div className="record-summary">
      <p className="muted">
        {formatNumber(shown)} {shown === 1 ? noun[0] : noun[1]} shown
        {more ? ', older ones with “Load more”' : ''}
      </p>
      {onClear ? (
        <button type="button" className="secondary outline" onClick={onClear}>
          Clear filters
        </button>
      ) : null}
    </div>
  );
}
