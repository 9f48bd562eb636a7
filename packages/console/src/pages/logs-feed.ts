/**
 * The Logs page's records: the first page for the filters, "Load more" for older ones, and a
 * live tail that asks every 2 s for records newer than the newest shown and puts them on top.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, type Schemas } from '../lib/api';

export type LogRecord = Schemas['RequestLog'];

/** The filters of GET /admin/api/logs that the page offers. */
export interface LogQuery {
  since?: string;
  key?: string;
  client?: string;
  route?: string;
  status?: number;
  decision?: string;
  ip?: string;
}

const PAGE_SIZE = 100;
/** The live tail keeps this many rows at most; older ones are dropped (and can be loaded again). */
export const TAIL_MAX_ROWS = 500;
const TAIL_EVERY_MS = 2_000;
/**
 * Records are written in batches (about every second, by every instance), so one may land
 * after a newer one was already read. The tail looks back this far and drops repeats.
 */
const TAIL_OVERLAP_MS = 10_000;

/** How "Load more" goes on: the API's cursor, and/or an upper bound when rows were dropped. */
interface Older {
  cursor?: string;
  until?: string;
}

interface Feed {
  /** The filters these rows answer (rows of the previous filters stay shown while loading). */
  query: string;
  rows: LogRecord[];
  older: Older | null;
  /** Keys of the rows the last tail poll added (highlighted briefly). */
  fresh: ReadonlySet<string>;
  /** The lower time bound of the filters when the first page was read (epoch ms). */
  floor: number | undefined;
}

/**
 * Records have no id of their own (request ids come from clients and may repeat), so a row is
 * known by its fields; identical duplicates collapse, which only the tail's overlap can show.
 */
export function recordKey(r: LogRecord): string {
  return [r.at, r.requestId, r.method, r.path, r.status, r.ip, r.totalMs, r.bytesOut, r.door].join('|');
}

const newestFirst = (a: LogRecord, b: LogRecord) => Date.parse(b.at) - Date.parse(a.at);
const NONE: ReadonlySet<string> = new Set();

function duration(value: string): number | undefined {
  const match = /^(\d+)([smhdw])$/.exec(value);
  if (!match) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 's'];
  return Number(match[1]) * unit;
}

/** The filters' "since" as a time: a duration counts back from when the page was read. */
function floorOf(since: string | undefined, readAt: number): number | undefined {
  if (!since) return undefined;
  const back = duration(since);
  if (back !== undefined) return readAt - back;
  const at = Date.parse(since);
  return Number.isNaN(at) ? undefined : at;
}

/** "Load more" below these rows when the API's cursor no longer fits them (rows were dropped). */
function below(rows: readonly LogRecord[]): Older | null {
  const last = rows.at(-1);
  // `until` is exclusive: start within the last row's millisecond; its repeats are dropped.
  return last ? { until: new Date(Date.parse(last.at) + 1).toISOString() } : null;
}

/** A tail poll's answer (newest first, since a little before the newest row) merged in. */
export function withNewer(feed: Feed, page: { items: LogRecord[]; nextCursor: string | null }): Feed {
  const seen = new Set(feed.rows.map(recordKey));
  const fresh = page.items.filter((r) => !seen.has(recordKey(r)));
  if (fresh.length === 0) return feed.fresh.size === 0 ? feed : { ...feed, fresh: NONE };
  // A full page of only new records: more arrived than one poll reads, so there may be a gap
  // between them and the rows shown. Show the newest and let "Load more" read down from there.
  const gap = page.nextCursor !== null && fresh.length === page.items.length;
  const merged = gap ? [...page.items] : [...fresh, ...feed.rows].sort(newestFirst);
  const rows = merged.slice(0, TAIL_MAX_ROWS);
  const older = gap || rows.length < merged.length ? below(rows) : feed.older;
  return { ...feed, rows, older, fresh: new Set(fresh.map(recordKey)) };
}

function withOlder(rows: readonly LogRecord[], items: readonly LogRecord[]): LogRecord[] {
  const seen = new Set(rows.map(recordKey));
  return [...rows, ...items.filter((r) => !seen.has(recordKey(r)))];
}

export interface LogFeed {
  data: LogRecord[] | undefined;
  fresh: ReadonlySet<string>;
  error: unknown;
  loading: boolean;
  reload: () => void;
  loadMore: (() => void) | undefined;
  loadingMore: boolean;
  /** The live tail is on but waits: the tab is hidden. */
  paused: boolean;
}

export function useLogFeed(query: LogQuery, live: boolean): LogFeed {
  const key = JSON.stringify(query);
  const [feed, setFeed] = useState<Feed>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [tick, setTick] = useState(0);
  const [hidden, setHidden] = useState(() => document.visibilityState === 'hidden');
  const feedRef = useRef(feed);
  feedRef.current = feed;
  const queryRef = useRef(query);
  queryRef.current = query;

  // biome-ignore lint/correctness/useExhaustiveDependencies: key stands for the query; tick reloads.
  useEffect(() => {
    const controller = new AbortController();
    const readAt = Date.now();
    setLoading(true);
    api
      .get('/admin/api/logs', { query: { ...queryRef.current, limit: PAGE_SIZE }, signal: controller.signal })
      .then(
        (page) => {
          if (controller.signal.aborted) return;
          setFeed({
            query: key,
            rows: page.items,
            older: page.nextCursor ? { cursor: page.nextCursor } : null,
            fresh: NONE,
            floor: floorOf(queryRef.current.since, readAt),
          });
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
  }, [key, tick]);

  useEffect(() => {
    const update = () => setHidden(document.visibilityState === 'hidden');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);

  // The tail: one request at a time, the next 2 s after the last answer; none while hidden.
  useEffect(() => {
    if (!live || hidden) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      const current = feedRef.current;
      // Rows of other filters are still shown while the first page loads: wait for it.
      if (current?.query === key) {
        const newest = current.rows[0];
        const after = newest ? Date.parse(newest.at) - TAIL_OVERLAP_MS : undefined;
        const since =
          after === undefined
            ? queryRef.current.since
            : new Date(Math.max(after, current.floor ?? after)).toISOString();
        try {
          const page = await api.get('/admin/api/logs', {
            query: { ...queryRef.current, since, limit: TAIL_MAX_ROWS },
            signal: controller.signal,
          });
          setFeed((f) => (f && f.query === key ? withNewer(f, page) : f));
          setError(undefined);
        } catch (err) {
          if (controller.signal.aborted) return;
          setError(err);
        }
      }
      if (!controller.signal.aborted) timer = setTimeout(poll, TAIL_EVERY_MS);
    };
    void poll();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [live, hidden, key]);

  const more = useCallback(() => {
    const current = feedRef.current;
    const older = current?.older;
    if (!current || !older || current.query !== key) return;
    setLoadingMore(true);
    api
      .get('/admin/api/logs', {
        query: { ...queryRef.current, until: older.until, cursor: older.cursor, limit: PAGE_SIZE },
      })
      .then(
        (page) => {
          // Dropped when the filters changed or the tail replaced the rows meanwhile.
          setFeed((f) =>
            f && f.query === key && f.older === older
              ? {
                  ...f,
                  rows: withOlder(f.rows, page.items),
                  older: page.nextCursor ? { ...older, cursor: page.nextCursor } : null,
                }
              : f,
          );
          setLoadingMore(false);
        },
        (err: unknown) => {
          setError(err);
          setLoadingMore(false);
        },
      );
  }, [key]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return {
    data: feed?.rows,
    fresh: feed?.fresh ?? NONE,
    error,
    loading,
    reload,
    loadMore: feed?.older && feed.query === key ? more : undefined,
    loadingMore,
    paused: live && hidden,
  };
}
