/** The Logs page's filters: what the address holds, what the API is asked, and the form. */
import { Select } from '../components/field';
import type { LogQuery } from './logs-feed';
import type { UrlFilters } from './logs-query';
import { SinceFilter, TextFilter } from './logs-since';

export const LOG_FILTER_KEYS = ['since', 'key', 'client', 'route', 'status', 'decision', 'ip'] as const;
export type LogFilterKey = (typeof LOG_FILTER_KEYS)[number];

const DECISIONS = [
  { value: '', label: 'All' },
  { value: 'allowed', label: 'Allowed' },
  { value: 'denied', label: 'Denied' },
  { value: 'error', label: 'Errored' },
];

const isStatus = (value: string) => /^[1-5]\d\d$/.test(value);

/** The address's filters as the API's query (a status that is not one is left out). */
export function toLogQuery(values: Readonly<Record<LogFilterKey, string>>): LogQuery {
  const query: LogQuery = {};
  for (const name of ['since', 'key', 'client', 'route', 'decision', 'ip'] as const) {
    if (values[name]) query[name] = values[name];
  }
  if (isStatus(values.status)) query.status = Number(values.status);
  return query;
}

/** The export link for these filters: a plain GET download, authenticated by the session cookie. */
export function exportHref(format: 'csv' | 'ndjson', query: LogQuery): string {
  const params = new URLSearchParams({ format });
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  return `/admin/api/logs/export?${params}`;
}

export function LogFilters({ filters }: { filters: UrlFilters<LogFilterKey> }) {
  const { values, set } = filters;
  return (
    <search className="filters record-filters" aria-label="Filter logs">
      <SinceFilter value={values.since} onChange={(since) => set({ since })} />
      <TextFilter label="Key" value={values.key} onCommit={(key) => set({ key })} placeholder="key_…" />
      <TextFilter
        label="Client"
        value={values.client}
        onCommit={(client) => set({ client })}
        placeholder="client id"
      />
      <TextFilter
        label="Route"
        value={values.route}
        onCommit={(route) => set({ route })}
        placeholder="route id"
      />
      <TextFilter
        label="Status"
        value={values.status}
        onCommit={(status) => set({ status })}
        valid={isStatus}
        invalidHint="A status from 100 to 599."
        inputMode="numeric"
        placeholder="e.g. 429"
        maxLength={3}
      />
      <Select
        label="Decision"
        value={values.decision}
        onChange={(event) => set({ decision: event.target.value })}
        options={DECISIONS}
      />
      <TextFilter label="IP" value={values.ip} onCommit={(ip) => set({ ip })} placeholder="203.0.113.7" />
    </search>
  );
}
