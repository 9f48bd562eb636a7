/**
 * A table of items with a caption for screen readers, optional row links and a "load more"
 * for keyset-paginated lists (the admin API's `nextCursor`).
 */
import type { ReactNode } from 'react';

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  /** Right-aligned numbers. */
  numeric?: boolean;
  className?: string;
}

export function DataTable<T>({
  caption,
  rows,
  columns,
  rowKey,
  onLoadMore,
  loadingMore,
}: {
  caption: string;
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  onLoadMore?: (() => void) | undefined;
  loadingMore?: boolean;
}) {
  return (
    <div className="table-wrap">
      <table className="striped">
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
          {rows.map((row) => (
            <tr key={rowKey(row)}>
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
        <button type="button" className="secondary outline" onClick={onLoadMore} aria-busy={loadingMore}>
          Load more
        </button>
      ) : null}
    </div>
  );
}
