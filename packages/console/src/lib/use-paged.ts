/**
 * Keyset-paginated lists (`{ items, nextCursor }` answers): the first page loads when deps
 * change, "Load more" appends the next. `reload` starts again from the first page.
 */
import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PagedState<T> {
  data: T[] | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  /** Undefined when there is nothing more to load. */
  loadMore: (() => void) | undefined;
  loadingMore: boolean;
}

export function usePaged<T>(
  load: (cursor: string | undefined, signal: AbortSignal) => Promise<PageOf<T>>,
  deps: DependencyList,
): PagedState<T> {
  const [data, setData] = useState<T[]>();
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const controllerRef = useRef<AbortController | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's; tick reloads.
  useEffect(() => {
    const controller = new AbortController();
    controllerRef.current = controller;
    setLoading(true);
    loadRef.current(undefined, controller.signal).then(
      (page) => {
        if (controller.signal.aborted) return;
        setData(page.items);
        setCursor(page.nextCursor);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);

  const more = useCallback(() => {
    const controller = controllerRef.current;
    if (!cursor || !controller) return;
    setLoadingMore(true);
    loadRef.current(cursor, controller.signal).then(
      (page) => {
        if (controller.signal.aborted) return;
        setData((rows) => [...(rows ?? []), ...page.items]);
        setCursor(page.nextCursor);
        setLoadingMore(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(err);
        setLoadingMore(false);
      },
    );
  }, [cursor]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, loadMore: cursor ? more : undefined, loadingMore };
}
