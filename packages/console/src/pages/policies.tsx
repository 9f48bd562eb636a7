/**
 * Rate-limit policies: how often, counted by what, attached where. Admins add, edit and
 * remove them; viewers look. A policy applies at the most specific level that has any
 * (key > client > route > global), which the "Attached to" column makes visible.
 */
import { useMemo, useState } from 'react';
import { DataTable } from '../components/data-table';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Badge, Loaded, PageHeader } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { useSession } from '../lib/session';
import { useApi } from '../lib/use-api';
import { PolicyFormDialog } from './policies-form';
import './policies.css';

type Policy = Schemas['Policy'];
type Route = Schemas['Route'];

async function loadAll(signal: AbortSignal): Promise<{ policies: Policy[]; routes: Route[] }> {
  const policies: Policy[] = [];
  const routes: Route[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get('/admin/api/policies', { query: { limit: 1000, cursor }, signal });
    policies.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  // Routes can name policies in their own `policies:` list: that attaches them too.
  do {
    const page = await api.get('/admin/api/routes', { query: { limit: 1000, cursor }, signal });
    routes.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return { policies, routes };
}

const ALGORITHM_NAME = new Map<string, string>([
  ['token_bucket', 'Token bucket'],
  ['sliding_window', 'Sliding window'],
  ['fixed_window', 'Fixed window'],
  ['quota', 'Quota'],
  ['concurrency', 'Concurrency'],
]);

function limitText(policy: Policy): string {
  switch (policy.algorithm) {
    case 'token_bucket':
      return `${policy.rate ?? '—'}${policy.burst ? `, burst ${policy.burst}` : ''}`;
    case 'concurrency':
      return `${policy.limit ?? '—'} in flight`;
    default:
      return String(policy.limit ?? '—');
  }
}

function windowText(policy: Policy): string {
  switch (policy.algorithm) {
    case 'sliding_window':
    case 'fixed_window':
      return policy.window ?? '—';
    case 'quota':
      if (policy.period === 'rolling_24h') return 'rolling 24 h';
      return `${policy.period ?? 'day'} (${policy.time_zone ?? 'UTC'})`;
    default:
      return '—';
  }
}

export function PoliciesPage() {
  const { canWrite } = useSession();
  const { run } = useNotify();
  const data = useApi(loadAll, []);
  const [editing, setEditing] = useState<Policy | 'new' | null>(null);

  // policy id → routes whose own list names it
  const listedBy = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const route of data.data?.routes ?? []) {
      for (const id of route.policies ?? []) map.set(id, [...(map.get(id) ?? []), route.id]);
    }
    return map;
  }, [data.data]);

  const remove = async (policy: Policy) => {
    if (!window.confirm(`Remove policy ${policy.id}? Its limit stops applying on every instance.`)) return;
    await run(
      () => api.delete('/admin/api/policies/{id}', { params: { id: policy.id } }),
      `Policy ${policy.id} removed`,
    );
    data.reload();
  };

  return (
    <div className="policies-page">
      <PageHeader
        title="Policies"
        subtitle="Rate limits and quotas, checked after authentication. The most specific level wins: key > client > route > global."
        actions={
          <IfCanWrite>
            <button type="button" onClick={() => setEditing('new')}>
              Add policy
            </button>
          </IfCanWrite>
        }
      />
      <Loaded
        state={data}
        empty={{
          when: (loaded) => loaded.policies.length === 0,
          title: 'No policies yet',
          hint: (
            <>
              Nothing is rate-limited. Add a policy (for example a token bucket of 100/s per key, attached
              globally), or write one in the declarative document on the Routes page.
            </>
          ),
        }}
      >
        {(loaded) => (
          <DataTable
            caption="Policies"
            rows={loaded.policies}
            rowKey={(row) => row.id}
            columns={[
              {
                header: 'ID',
                cell: (row) => (
                  <>
                    <strong>{row.id}</strong>
                    {row.description ? <div className="muted small">{row.description}</div> : null}
                  </>
                ),
              },
              { header: 'Algorithm', cell: (row) => ALGORITHM_NAME.get(row.algorithm) ?? row.algorithm },
              { header: 'Limit / rate', cell: (row) => limitText(row) },
              { header: 'Window', cell: (row) => windowText(row) },
              { header: 'Key by', cell: (row) => row.key_by.join(' + ') },
              {
                header: 'Attached to',
                cell: (row) => {
                  const targets = [
                    ...(row.attach ?? []),
                    ...(listedBy.get(row.id) ?? []).map((id) => `route:${id}`),
                  ];
                  const unique = [...new Set(targets)];
                  return unique.length > 0 ? (
                    <ul className="attach-list">
                      {unique.map((target) => (
                        <li key={target}>
                          <code>{target}</code>
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="muted">nothing (keys may name it)</span>
                  );
                },
              },
              {
                header: 'Shadow',
                cell: (row) =>
                  row.shadow ? <Badge tone="warn">shadow</Badge> : <Badge tone="ok">enforced</Badge>,
              },
              ...(canWrite
                ? [
                    {
                      header: 'Actions',
                      cell: (row: Policy) => (
                        <IfCanWrite>
                          <div className="row-actions">
                            <button type="button" className="secondary" onClick={() => setEditing(row)}>
                              Edit<span className="visually-hidden"> policy {row.id}</span>
                            </button>
                            <button
                              type="button"
                              className="secondary outline"
                              onClick={() => void remove(row)}
                            >
                              Delete<span className="visually-hidden"> policy {row.id}</span>
                            </button>
                          </div>
                        </IfCanWrite>
                      ),
                    },
                  ]
                : []),
            ]}
          />
        )}
      </Loaded>
      <PolicyFormDialog
        open={editing !== null}
        policy={editing === 'new' || editing === null ? undefined : editing}
        onClose={() => setEditing(null)}
        onSaved={data.reload}
      />
    </div>
  );
}
