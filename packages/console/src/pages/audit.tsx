/**
 * Audit log: every administrative change (console, admin API, CLI), who made it and from
 * where, newest first; an entry opens to show what changed. Snapshots are redacted by the API.
 * Filters live in the address's query string, like the Logs page's.
 */
import { useMemo } from 'react';
import { Dialog } from '../components/dialog';
import { Badge, Loaded, PageHeader } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatTime } from '../lib/format';
import { usePaged } from '../lib/use-paged';
import { SnapshotDiff } from './audit-diff';
import { shortTime } from './logs-format';
import { useUrlFilters } from './logs-query';
import { SinceFilter, TextFilter } from './logs-since';
import { Item, OpenButton, RecordSummary, RecordTable, useOpenRecord } from './logs-table';
import './audit.css';

type AuditEntry = Schemas['AuditEntry'];

const FILTER_KEYS = ['since', 'actor', 'action', 'target'] as const;

/** "apiKeys:key_…" (as `portcullis audit list --target`), or just a type ("apiKeys"). */
function splitTarget(target: string): { targetType?: string; targetId?: string } {
  if (!target) return {};
  const at = target.indexOf(':');
  if (at < 0) return { targetType: target };
  const targetType = target.slice(0, at);
  const targetId = target.slice(at + 1);
  return { ...(targetType ? { targetType } : {}), ...(targetId ? { targetId } : {}) };
}

const targetOf = (entry: AuditEntry) => `${entry.targetType}:${entry.targetId}`;

export function AuditPage() {
  const filters = useUrlFilters(FILTER_KEYS);
  const { since, actor, action, target } = filters.values;
  const query = useMemo(
    () => ({
      ...(since ? { since } : {}),
      ...(actor ? { actor } : {}),
      ...(action ? { action } : {}),
      ...splitTarget(target),
    }),
    [since, actor, action, target],
  );
  const entries = usePaged(
    (cursor, signal) => api.get('/admin/api/audit', { query: { ...query, limit: 50, cursor }, signal }),
    [query],
  );
  const detail = useOpenRecord<AuditEntry>();
  const open = detail.record;

  const clearButton = (
    <button type="button" className="secondary" onClick={filters.clear}>
      Clear filters
    </button>
  );

  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Every administrative change: who, from where, and what it changed (secrets redacted)."
      />
      <search className="filters record-filters audit-filters" aria-label="Filter the audit log">
        <SinceFilter value={since} onChange={(value) => filters.set({ since: value })} />
        <TextFilter
          label="Actor"
          value={actor}
          onCommit={(value) => filters.set({ actor: value })}
          placeholder="user:admin, root…"
        />
        <TextFilter
          label="Action"
          value={action}
          onCommit={(value) => filters.set({ action: value })}
          placeholder="apiKeys.revoke"
        />
        <TextFilter
          label="Target"
          value={target}
          onCommit={(value) => filters.set({ target: value })}
          placeholder="clients or apiKeys:key_…"
        />
      </search>
      <Loaded
        state={entries}
        empty={{
          when: (rows) => rows.length === 0,
          title: filters.active ? 'No entries match these filters' : 'No administrative changes yet',
          hint: filters.active ? (
            <>
              <p>
                Actor and action match exactly; a target is a type (<code>clients</code>) or a type and id (
                <code>clients:mobile-app</code>).
              </p>
              {clearButton}
            </>
          ) : (
            <p>
              Changes made in this console, through the admin API or with the CLI are recorded here with who
              made them, from where, and what they changed.
            </p>
          ),
        }}
      >
        {(rows) => (
          <>
            <RecordSummary
              shown={rows.length}
              noun={['entry', 'entries']}
              more={entries.loadMore !== undefined}
              onClear={filters.active ? filters.clear : undefined}
            />
            <RecordTable
              caption="Audit entries, newest first"
              rows={rows}
              rowKey={(row) => row.id}
              onOpen={detail.open}
              onLoadMore={entries.loadMore}
              loadingMore={entries.loadingMore}
              columns={[
                { header: 'Time', cell: (row) => <time dateTime={row.at}>{shortTime(row.at)}</time> },
                { header: 'Actor', cell: (row) => row.actor },
                {
                  header: 'Source',
                  cell: (row) => (row.source === 'cli' ? <Badge>cli</Badge> : <code>{row.source}</code>),
                },
                {
                  header: 'Action',
                  cell: (row) => (
                    <OpenButton onOpen={() => detail.open(row)}>
                      <code>{row.action}</code>
                    </OpenButton>
                  ),
                },
                { header: 'Target', className: 'target', cell: (row) => <code>{targetOf(row)}</code> },
              ]}
            />
          </>
        )}
      </Loaded>
      <Dialog key={detail.key} open={open !== null} title="Audit entry" wide onClose={detail.close}>
        {open ? (
          <>
            <dl className="record-fields">
              <Item label="Time" wide>
                {formatTime(open.at)} <span className="muted">({open.at})</span>
              </Item>
              <Item label="Actor">{open.actor}</Item>
              <Item label="Source">
                {open.source === 'cli' ? 'the command line (cli)' : <code>{open.source}</code>}
              </Item>
              <Item label="Action">
                <code>{open.action}</code>
              </Item>
              <Item label="Target">
                <code>{targetOf(open)}</code>
              </Item>
              <Item label="Entry id">
                <code>{open.id}</code>
              </Item>
            </dl>
            <SnapshotDiff before={open.before} after={open.after} />
            <footer className="record-shortcuts">
              <button
                type="button"
                className="secondary outline"
                onClick={() => {
                  filters.set({ target: targetOf(open) });
                  detail.close();
                }}
              >
                All changes to this target
              </button>
            </footer>
          </>
        ) : null}
      </Dialog>
    </>
  );
}
