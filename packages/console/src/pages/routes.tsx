/**
 * Routes: which requests the gateway serves, what each method requires and where allowed
 * requests go. A table with a form editor, a page per route, and the declarative (YAML)
 * view with a dry run before apply. Admins change; viewers look.
 */
import { type KeyboardEvent, type ReactNode, useMemo, useRef, useState } from 'react';
import { Link, Route, Switch, useLocation, useParams, useSearchParams } from 'wouter';
import { DataTable } from '../components/data-table';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Badge, EmptyState, Loaded, PageHeader } from '../components/states';
import { api, isPortcullisError, type Schemas } from '../lib/api';
import { formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useSession } from '../lib/session';
import { useApi } from '../lib/use-api';
import { DeclarativePanel } from './routes-declarative';
import { authLabel, RouteFormDialog } from './routes-form';
import { priorities } from './routes-order';
import './routes.css';

type RouteSpec = Schemas['Route'];

/** Every route: tables of routes are small, and priority is only meaningful over all of them. */
async function loadAllRoutes(signal: AbortSignal): Promise<RouteSpec[]> {
  const routes: RouteSpec[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get('/admin/api/routes', { query: { limit: 1000, cursor }, signal });
    routes.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return routes;
}

/** "GET, POST: API key · others: public" — methods grouped by what they require. */
export function MethodsSummary({ methods }: { methods: RouteSpec['methods'] }) {
  const entries = Object.entries(methods);
  if (entries.length === 0) return <span className="muted">none</span>;
  const named = entries.filter(([method]) => method !== '*');
  const others = methods['*'];
  return (
    <ul className="methods-summary">
      {named.map(([method, auth]) => (
        <li key={method}>
          <code>{method}</code> {authLabel(auth)}
        </li>
      ))}
      {others ? (
        <li>
          <code>{named.length > 0 ? 'others' : 'any'}</code> {authLabel(others)}
        </li>
      ) : null}
    </ul>
  );
}

function useDeleteRoute(): (route: RouteSpec) => Promise<boolean> {
  const { run } = useNotify();
  return async (route) => {
    if (
      !window.confirm(
        `Remove route ${route.id} (${route.host} ${route.path})? Requests it serves will get 404.`,
      )
    )
      return false;
    const done = await run(
      () => api.delete('/admin/api/routes/{id}', { params: { id: route.id } }),
      `Route ${route.id} removed`,
    );
    return done !== undefined;
  };
}

const TABS = [
  { id: 'table', label: 'Routes' },
  { id: 'declarative', label: 'Declarative (YAML)' },
] as const;
type Tab = (typeof TABS)[number]['id'];

/** WAI-ARIA tabs on native buttons: arrow keys move between them. */
function Tabs({ current, onChange }: { current: Tab; onChange: (tab: Tab) => void }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const onKeyDown = (event: KeyboardEvent<HTMLButtonElement>, index: number) => {
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = (index + step + TABS.length) % TABS.length;
    const tab = TABS[next];
    if (!tab) return;
    onChange(tab.id);
    refs.current[next]?.focus();
  };
  return (
    <div role="tablist" aria-label="Route views" className="tabs">
      {TABS.map((tab, index) => (
        <button
          key={tab.id}
          ref={(element) => {
            refs.current[index] = element;
          }}
          type="button"
          role="tab"
          id={`tab-${tab.id}`}
          aria-selected={current === tab.id}
          aria-controls={`panel-${tab.id}`}
          tabIndex={current === tab.id ? 0 : -1}
          className={current === tab.id ? undefined : 'secondary outline'}
          onClick={() => onChange(tab.id)}
          onKeyDown={(event) => onKeyDown(event, index)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

function RouteList() {
  const { canWrite } = useSession();
  const [search, setSearch] = useSearchParams();
  const tab: Tab = search.get('view') === 'declarative' ? 'declarative' : 'table';
  const routes = useApi(loadAllRoutes, []);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState<RouteSpec | 'new' | null>(null);
  const remove = useDeleteRoute();
  const order = useMemo(() => priorities(routes.data ?? []), [routes.data]);

  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const list = (routes.data ?? []).filter(
      (route) =>
        !needle ||
        [route.id, route.host, route.path, route.upstream.url, route.description ?? ''].some((value) =>
          value.toLowerCase().includes(needle),
        ),
    );
    return list.sort((a, b) => (order.get(a.id)?.rank ?? 0) - (order.get(b.id)?.rank ?? 0));
  }, [routes.data, filter, order]);

  return (
    <>
      <PageHeader
        title="Routes"
        subtitle="Which requests are served, what each method requires, and where they go. Changes reach every instance within a second."
        actions={
          tab === 'table' ? (
            <IfCanWrite>
              <button type="button" onClick={() => setEditing('new')}>
                Add route
              </button>
            </IfCanWrite>
          ) : null
        }
      />
      <Tabs
        current={tab}
        onChange={(next) => setSearch(next === 'table' ? {} : { view: next }, { replace: true })}
      />
      {tab === 'table' ? (
        <div role="tabpanel" id="panel-table" aria-labelledby="tab-table">
          <Loaded
            state={routes}
            empty={{
              when: (list) => list.length === 0,
              title: 'No routes yet',
              hint: (
                <>
                  Nothing is served through the proxy until a route says where requests go. Add one here,
                  write a declarative document in the “Declarative (YAML)” tab, or run{' '}
                  <code>portcullis routes add</code>.
                </>
              ),
            }}
          >
            {() => (
              <>
                <div className="filters">
                  <label>
                    Filter routes
                    <input
                      type="search"
                      value={filter}
                      onChange={(event) => setFilter(event.target.value)}
                      placeholder="id, host, path or upstream"
                    />
                  </label>
                </div>
                <p className="muted small">
                  Listed in matching order: exact host before wildcard before any host, then exact path before
                  parameters before longer prefixes.
                </p>
                {rows.length === 0 ? (
                  <EmptyState title="No route matches this filter" />
                ) : (
                  <DataTable
                    caption="Routes"
                    rows={rows}
                    rowKey={(row) => row.id}
                    columns={[
                      {
                        header: 'Priority',
                        numeric: true,
                        cell: (row) => {
                          const priority = order.get(row.id);
                          return (
                            <span title={priority?.label}>
                              {priority?.rank}
                              <span className="visually-hidden"> ({priority?.label})</span>
                            </span>
                          );
                        },
                      },
                      {
                        header: 'ID',
                        cell: (row) => <Link href={`/${encodeURIComponent(row.id)}`}>{row.id}</Link>,
                      },
                      { header: 'Host', cell: (row) => <code>{row.host}</code> },
                      { header: 'Path', cell: (row) => <code>{row.path}</code> },
                      { header: 'Methods and auth', cell: (row) => <MethodsSummary methods={row.methods} /> },
                      {
                        header: 'Upstream',
                        cell: (row) => (
                          <>
                            <code className="url">{row.upstream.url}</code>
                            {row.environment ? (
                              <>
                                {' '}
                                <Badge>{row.environment}</Badge>
                              </>
                            ) : null}
                          </>
                        ),
                      },
                      ...(canWrite
                        ? [
                            {
                              header: 'Actions',
                              cell: (row: RouteSpec) => (
                                <IfCanWrite>
                                  <div className="row-actions">
                                    <button
                                      type="button"
                                      className="secondary"
                                      onClick={() => setEditing(row)}
                                    >
                                      Edit<span className="visually-hidden"> route {row.id}</span>
                                    </button>
                                    <button
                                      type="button"
                                      className="secondary outline"
                                      onClick={async () => {
                                        if (await remove(row)) routes.reload();
                                      }}
                                    >
                                      Delete<span className="visually-hidden"> route {row.id}</span>
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
              </>
            )}
          </Loaded>
        </div>
      ) : (
        <div role="tabpanel" id="panel-declarative" aria-labelledby="tab-declarative">
          <DeclarativePanel onApplied={routes.reload} />
        </div>
      )}
      <RouteFormDialog
        open={editing !== null}
        route={editing === 'new' || editing === null ? undefined : editing}
        onClose={() => setEditing(null)}
        onSaved={() => routes.reload()}
      />
    </>
  );
}

function Detail({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

function list(values: readonly string[] | undefined): ReactNode {
  return values && values.length > 0 ? values.join(', ') : <span className="muted">—</span>;
}

function RouteDetail() {
  const { id = '' } = useParams<{ id: string }>();
  const [, navigate] = useLocation();
  const [editing, setEditing] = useState(false);
  const remove = useDeleteRoute();
  const route = useApi((signal) => api.get('/admin/api/routes/{id}', { params: { id }, signal }), [id]);
  const policies = useApi(
    (signal) => api.get('/admin/api/policies', { query: { attach: `route:${id}`, limit: 1000 }, signal }),
    [id],
  );
  const grants = useApi(
    (signal) => api.get('/admin/api/grants', { query: { route: id, limit: 1000 }, signal }),
    [id],
  );

  if (isPortcullisError(route.error) && route.error.status === 404) {
    return (
      <>
        <p>
          <Link href="/">← All routes</Link>
        </p>
        <EmptyState title={`No route “${id}”`}>
          It may have been removed. Pick one from the list of routes.
        </EmptyState>
      </>
    );
  }

  return (
    <>
      <p>
        <Link href="/">← All routes</Link>
      </p>
      <Loaded state={route}>
        {(data) => (
          <>
            <PageHeader
              title={`Route ${data.id}`}
              subtitle={data.description}
              actions={
                <IfCanWrite>
                  <button type="button" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                  <button
                    type="button"
                    className="secondary outline"
                    onClick={async () => {
                      if (await remove(data)) navigate('/');
                    }}
                  >
                    Delete
                  </button>
                </IfCanWrite>
              }
            />
            <div className="grid-cards route-detail">
              <article>
                <h2>Matching</h2>
                <dl>
                  <Detail label="Host">
                    <code>{data.host}</code>
                  </Detail>
                  <Detail label="Path">
                    <code>{data.path}</code>
                  </Detail>
                  <Detail label="Methods and auth">
                    <MethodsSummary methods={data.methods} />
                  </Detail>
                  <Detail label="Environment">{data.environment ?? 'any'}</Detail>
                  <Detail label="Required scopes">{list(data.scopes)}</Detail>
                  <Detail label="JWT providers">
                    {data.jwt_providers?.length ? list(data.jwt_providers) : 'all'}
                  </Detail>
                  <Detail label="Client grants">
                    {data.open_to_all_clients ? 'not needed (open to all clients)' : 'required per client'}
                  </Detail>
                  <Detail label="IP allow-list">{list(data.ip?.allow)}</Detail>
                  <Detail label="IP deny-list">{list(data.ip?.deny)}</Detail>
                </dl>
              </article>
              <article>
                <h2>Upstream</h2>
                <dl>
                  <Detail label="URL">
                    <code>{data.upstream.url}</code>
                  </Detail>
                  <Detail label="Strip prefix">{data.upstream.strip_prefix ?? '—'}</Detail>
                  <Detail label="Timeout">
                    {data.upstream.timeout_ms !== undefined
                      ? `${data.upstream.timeout_ms} ms`
                      : 'gateway default'}
                  </Detail>
                  <Detail label="Retries">{data.upstream.retries ?? 0}</Detail>
                  <Detail label="Host header">
                    {data.upstream.preserve_host ? "the client's" : "the upstream's"}
                  </Detail>
                  <Detail label="Credential">
                    {data.keep_credential ? 'forwarded upstream' : 'removed before forwarding'}
                  </Detail>
                  <Detail label="Created">{formatTime(data.created_at)}</Detail>
                  <Detail label="Updated">{formatTime(data.updated_at)}</Detail>
                </dl>
              </article>
            </div>
            <section aria-labelledby="route-limits">
              <h2 id="route-limits">Rate limits</h2>
              <Loaded
                state={policies}
                empty={{
                  when: (page) => page.items.length === 0 && !data.policies?.length,
                  title: 'No policy on this route',
                  hint: 'Global, client and key policies may still apply. Attach one on the Policies page.',
                }}
              >
                {(page) => (
                  <ul>
                    {data.policies?.map((policy) => (
                      <li key={`list-${policy}`}>
                        <Link href={consoleHref('/policies')}>{policy}</Link>{' '}
                        <span className="muted">(in the route's policies list)</span>
                      </li>
                    ))}
                    {page.items.map((policy) => (
                      <li key={`attach-${policy.id}`}>
                        <Link href={consoleHref('/policies')}>{policy.id}</Link>{' '}
                        <span className="muted">(attached by the policy)</span>
                      </li>
                    ))}
                  </ul>
                )}
              </Loaded>
            </section>
            <section aria-labelledby="route-grants">
              <h2 id="route-grants">Clients granted</h2>
              <Loaded
                state={grants}
                empty={{
                  when: (page) => page.items.length === 0,
                  title: data.open_to_all_clients ? 'No grants needed' : 'No client is granted this route',
                  hint: data.open_to_all_clients
                    ? 'This route is open to all clients.'
                    : 'Grant it to a client on the Clients & grants page.',
                }}
              >
                {(page) => (
                  <ul>
                    {page.items.map((grant) => (
                      <li key={grant.client}>
                        <Link href={consoleHref(`/clients/${encodeURIComponent(grant.client)}`)}>
                          {grant.client}
                        </Link>
                        : {grant.methods.join(', ')}
                      </li>
                    ))}
                  </ul>
                )}
              </Loaded>
            </section>
            <RouteFormDialog
              open={editing}
              route={data}
              onClose={() => setEditing(false)}
              onSaved={() => route.reload()}
            />
          </>
        )}
      </Loaded>
    </>
  );
}

export function RoutesPage() {
  return (
    <div className="routes-page">
      <Switch>
        <Route path="/" component={RouteList} />
        <Route path="/:id" component={RouteDetail} />
      </Switch>
    </div>
  );
}
