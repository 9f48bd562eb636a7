/**
 * A client's grants: which routes and methods its keys and HMAC secrets may call (routes
 * requiring api_key or hmac admit only granted clients). Add with a route and methods,
 * remove with a confirmation.
 */
import { useId, useState } from 'react';
import { Link } from 'wouter';
import { DataTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { required, Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { EmptyState, Loaded } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';

type Grant = Schemas['Grant'];
type RouteSpec = Schemas['Route'];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export function ClientGrants({ client, clientName }: { client: string; clientName: string }) {
  const { notify } = useNotify();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Grant | null>(null);
  const grants = useApi(
    (signal) => api.get('/admin/api/grants', { query: { client, limit: 1000 }, signal }),
    [client],
  );

  return (
    <section aria-labelledby="client-grants-heading">
      <div className="kv-section-head">
        <h2 id="client-grants-heading">Grants</h2>
        <IfCanWrite>
          <div className="actions">
            <button type="button" onClick={() => setAdding(true)}>
              Add grant
            </button>
          </div>
        </IfCanWrite>
      </div>
      <Loaded
        state={grants}
        empty={{
          when: (page) => page.items.length === 0,
          title: 'No grants yet',
          hint: 'Routes that require an API key or an HMAC signature refuse this client (403 forbidden_route) until it is granted them.',
        }}
      >
        {(page) => (
          <DataTable
            caption={`Routes ${clientName} may call`}
            rows={page.items}
            rowKey={(row) => row.route}
            columns={[
              {
                header: 'Route',
                cell: (row) => (
                  <Link href={consoleHref(`/routes/${encodeURIComponent(row.route)}`)}>{row.route}</Link>
                ),
              },
              {
                header: 'Methods',
                cell: (row) =>
                  row.methods.includes('*') ? (
                    'all the route serves'
                  ) : (
                    <span className="kv-method-list">
                      {row.methods.map((m) => (
                        <code key={m}>{m}</code>
                      ))}
                    </span>
                  ),
              },
              { header: 'Granted', cell: (row) => formatTime(row.createdAt) },
              {
                header: 'Actions',
                cell: (row) => (
                  <IfCanWrite>
                    <div className="row-actions">
                      <button
                        type="button"
                        className="secondary"
                        aria-label={`Remove grant for ${row.route}`}
                        onClick={() => setRemoving(row)}
                      >
                        Remove
                      </button>
                    </div>
                  </IfCanWrite>
                ),
              },
            ]}
          />
        )}
      </Loaded>

      <FormDialog
        open={adding}
        title="Add a grant"
        submitLabel="Add grant"
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          const picked = form.getAll('methods').map(String);
          if (picked.length === 0) throw new Error('Methods: tick at least one.');
          await api.post('/admin/api/grants', {
            body: { client, route: required(form, 'route'), methods: picked.includes('*') ? ['*'] : picked },
          });
          notify('ok', 'Grant added');
          grants.reload();
        }}
      >
        <GrantFields />
      </FormDialog>

      <FormDialog
        open={removing !== null}
        title="Remove grant"
        submitLabel="Remove grant"
        danger
        onClose={() => setRemoving(null)}
        onSubmit={async () => {
          if (!removing) return;
          await api.delete('/admin/api/grants/{client}/{route}', {
            params: { client, route: removing.route },
          });
          notify('ok', 'Grant removed');
          grants.reload();
        }}
      >
        <p>
          {clientName} can no longer call route <code>{removing?.route}</code> with its keys or HMAC secrets.
        </p>
      </FormDialog>
    </section>
  );
}

/** Route select and method checkboxes; the methods offered are those the chosen route serves. */
function GrantFields() {
  const routes = useApi((signal) => api.get('/admin/api/routes', { query: { limit: 1000 }, signal }), []);
  const authId = useId();
  const [routeId, setRouteId] = useState('');
  // "All methods" and single methods exclude each other, so what is ticked is what is granted.
  const [picked, setPicked] = useState<ReadonlySet<string>>(new Set(['*']));
  const toggle = (method: string, on: boolean) =>
    setPicked((current) => {
      if (method === '*') return new Set(on ? ['*'] : []);
      const next = new Set([...current].filter((m) => m !== '*'));
      if (on) next.add(method);
      else next.delete(method);
      return next;
    });
  if (!routes.data) return <Loaded state={routes}>{() => null}</Loaded>;
  const items = routes.data.items;
  if (items.length === 0) {
    return (
      <EmptyState title="No routes yet">
        Add a route first, on the <Link href={consoleHref('/routes')}>Routes</Link> page.
      </EmptyState>
    );
  }
  const route = items.find((r) => r.id === routeId) ?? items[0];
  const served = route ? servedMethods(route) : [...METHODS];
  return (
    <>
      <Select
        label="Route"
        name="route"
        required
        value={route?.id}
        onChange={(event) => {
          setRouteId(event.target.value);
          setPicked(new Set(['*']));
        }}
        options={items.map((r) => ({ value: r.id, label: `${r.id}: ${r.path}` }))}
        aria-describedby={authId}
      />
      {/* Outside the label, so the methods it names do not become part of the select's name. */}
      <p id={authId} className="muted kv-small">
        {route ? authSummary(route) : null}
      </p>
      <fieldset className="kv-checks">
        <legend>Methods</legend>
        <label>
          <input
            type="checkbox"
            name="methods"
            value="*"
            checked={picked.has('*')}
            onChange={(event) => toggle('*', event.target.checked)}
          />
          All methods
        </label>
        {served.map((method) => (
          <label key={method}>
            <input
              type="checkbox"
              name="methods"
              value={method}
              checked={picked.has(method)}
              onChange={(event) => toggle(method, event.target.checked)}
            />
            {method}
          </label>
        ))}
      </fieldset>
      <small className="muted">"All methods" grants every method the route serves, now and later.</small>
    </>
  );
}

/** The methods a route names; every common one when it serves all ("*"). */
function servedMethods(route: RouteSpec): string[] {
  const named = Object.keys(route.methods).filter((m) => m !== '*');
  return route.methods['*'] ? [...METHODS] : named;
}

function authSummary(route: RouteSpec): string {
  return Object.entries(route.methods)
    .map(([method, auth]) => `${method === '*' ? 'any method' : method}: ${auth.join(' or ')}`)
    .join(' · ');
}
