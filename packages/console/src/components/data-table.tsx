/**
 * A table of items with a caption for screen readers, optional row links and a "load more"
 * for keyset-paginated lists (the admin API's `nextCursor`).
 */
import type { ReactNode } from 'react';
import type { PagedState } from '../lib/use-paged';
import { Loaded } from './states';

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

/**
 * A keyset-paged list as a table: loading and error states, an empty state when the list has
 * no rows, and "load more" while the API has a next page.
 */
export function PagedTable<T>({
  state,
  empty,
  ...table
}: {
  state: PagedState<T>;
  empty: { title: string; hint?: ReactNode };
  caption: string;
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
}) {
  return (
    <Loaded state={state} empty={{ when: (rows) => rows.length === 0, ...empty }}>
      {(rows) => (
        <DataTable {...table} rows={rows} onLoadMore={state.loadMore} loadingMore={state.loadingMore} />
      )}
    </Loaded>
  );
}
