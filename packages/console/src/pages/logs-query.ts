/**
 * Filters kept in the address's query string, so a filtered view can be shared as a link and
 * survives a reload. Only ids and values people type go there, never a secret.
 */
import { useCallback, useMemo } from 'react';
import { useLocation, useSearch } from 'wouter';

export type FilterValues<K extends string> = Readonly<Record<K, string>>;

export interface UrlFilters<K extends string> {
  values: FilterValues<K>;
  /** Sets some filters (an empty string removes one), keeping the others and unknown parameters. */
  set: (patch: Partial<Record<K, string>>) => void;
  clear: () => void;
  /** True when any of the filters has a value. */
  active: boolean;
}

export function useUrlFilters<K extends string>(keys: readonly K[]): UrlFilters<K> {
  const search = useSearch();
  const [, navigate] = useLocation();

  // biome-ignore lint/correctness/useExhaustiveDependencies: keys is a module constant.
  const values = useMemo(() => {
    const params = new URLSearchParams(search);
    return Object.fromEntries(keys.map((key) => [key, params.get(key)?.trim() ?? ''])) as Record<K, string>;
  }, [search]);

  const go = useCallback(
    (params: URLSearchParams) => {
      const query = params.toString();
      // Relative to the page's own path; replace, so typing a filter does not fill the history.
      navigate(query ? `?${query}` : '', { replace: true });
    },
    [navigate],
  );

  const set = useCallback(
    (patch: Partial<Record<K, string>>) => {
      const params = new URLSearchParams(window.location.search);
      for (const [key, value] of Object.entries(patch) as [K, string | undefined][]) {
        const trimmed = value?.trim() ?? '';
        if (trimmed) params.set(key, trimmed);
        else params.delete(key);
      }
      go(params);
    },
    [go],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: keys is a module constant.
  const clear = useCallback(() => {
    const params = new URLSearchParams(window.location.search);
    for (const key of keys) params.delete(key);
    go(params);
  }, [go]);

  const active = keys.some((key) => values[key] !== '');
  return { values, set, clear, active };
}
