/**
 * The route editor: every field of a route spec as a form. The API is the one judge of the
 * values (its 422 names each bad field as `route.<field>` and is shown in the dialog, input
 * kept), so the form only shapes what was typed into the spec's JSON.
 */

import type { paths } from '@portcullis/sdk/browser';
import { useId, useState } from 'react';
import { FormDialog } from '../components/dialog';
import { Field, optional, Select } from '../components/field';
import { api, type Schemas } from '../lib/api';
import { splitList } from '../lib/format';

type Route = Schemas['Route'];
type RouteSpec = paths['/admin/api/routes']['post']['requestBody']['content']['application/json'];

/** Offered auth requirements; a list means "any of these admits". */
const AUTH_OPTIONS: readonly { value: string; label: string }[] = [
  { value: 'public', label: 'Public (no credential)' },
  { value: 'api_key', label: 'API key' },
  { value: 'hmac', label: 'HMAC signature' },
  { value: 'jwt', label: 'JWT' },
  { value: 'api_key,jwt', label: 'API key or JWT' },
  { value: 'api_key,hmac', label: 'API key or HMAC' },
  { value: 'hmac,jwt', label: 'HMAC or JWT' },
  { value: 'api_key,hmac,jwt', label: 'API key, HMAC or JWT' },
];
const NOT_SERVED = '';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const AUTH_LABEL = new Map(AUTH_OPTIONS.map((option) => [option.value, option.label]));

/** "api_key,jwt" → "API key or JWT" (or the raw names for a combination not offered). */
export function authLabel(auth: readonly string[]): string {
  const value = auth.join(',');
  return AUTH_LABEL.get(value) ?? auth.join(' or ');
}

/** Options for a select, with the route's current value added when it is not one offered. */
function authOptions(current: string | undefined, withNotServed: boolean) {
  const options = withNotServed
    ? [{ value: NOT_SERVED, label: 'Not served (only the methods listed below)' }, ...AUTH_OPTIONS]
    : [...AUTH_OPTIONS];
  if (current && !AUTH_LABEL.has(current))
    options.push({ value: current, label: current.split(',').join(' or ') });
  return options;
}

interface Override {
  key: number;
  method: string;
  auth: string;
}

let nextOverride = 1;

function MethodOverrides({ initial }: { initial: readonly Override[] }) {
  const [rows, setRows] = useState<Override[]>([...initial]);
  return (
    <fieldset className="route-overrides">
      <legend>Per-method requirements</legend>
      {rows.length === 0 ? <p className="muted">None: every method gets the requirement above.</p> : null}
      {rows.map((row, index) => {
        const methods: string[] = [...METHODS];
        if (row.method && !methods.includes(row.method)) methods.push(row.method);
        return (
          <fieldset key={row.key} className="route-override">
            <legend className="visually-hidden">Method override {index + 1}</legend>
            <Select label="Method" name="override_method" options={methods} defaultValue={row.method} />
            <Select
              label="Requires"
              name="override_auth"
              options={authOptions(row.auth, false)}
              defaultValue={row.auth}
            />
            <button
              type="button"
              className="secondary outline"
              onClick={() => setRows((list) => list.filter((r) => r.key !== row.key))}
            >
              Remove<span className="visually-hidden"> method override {index + 1}</span>
            </button>
          </fieldset>
        );
      })}
      <button
        type="button"
        className="secondary outline"
        onClick={() => setRows((list) => [...list, { key: nextOverride++, method: 'POST', auth: 'api_key' }])}
      >
        Add method override
      </button>
      <small className="muted">HEAD is served wherever GET is.</small>
    </fieldset>
  );
}

function Check({
  label,
  name,
  checked,
  hint,
}: {
  label: string;
  name: string;
  checked?: boolean;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="check">
      <label>
        <input
          type="checkbox"
          name={name}
          defaultChecked={checked}
          aria-describedby={hint ? id : undefined}
        />{' '}
        {label}
      </label>
      {hint ? (
        <small className="muted" id={id}>
          {hint}
        </small>
      ) : null}
    </div>
  );
}

function listOrUndefined(form: FormData, name: string): string[] | undefined {
  const list = splitList(optional(form, name) ?? '');
  return list.length > 0 ? list : undefined;
}

function integerOrUndefined(form: FormData, name: string): number | undefined {
  const text = optional(form, name);
  return text === undefined ? undefined : Number(text);
}

function authValue(value: string): string | string[] {
  const parts = value.split(',');
  return parts.length === 1 ? (parts[0] ?? value) : parts;
}

/** The spec typed into the form, as the API's route body (empty fields left out). */
function specFrom(form: FormData): RouteSpec {
  const methods: Record<string, string | string[]> = {};
  const overrideMethods = form.getAll('override_method').map(String);
  const overrideAuths = form.getAll('override_auth').map(String);
  overrideMethods.forEach((method, i) => {
    const auth = overrideAuths[i];
    if (method && auth) methods[method] = authValue(auth);
  });
  const fallback = optional(form, 'auth_default');
  if (fallback) methods['*'] = authValue(fallback);
  const allow = listOrUndefined(form, 'ip_allow');
  const deny = listOrUndefined(form, 'ip_deny');
  const environment = optional(form, 'environment');
  return {
    id: optional(form, 'id') ?? '',
    description: optional(form, 'description'),
    host: optional(form, 'host') ?? '*',
    path: optional(form, 'path') ?? '',
    methods,
    upstream: {
      url: optional(form, 'upstream_url') ?? '',
      strip_prefix: optional(form, 'strip_prefix'),
      timeout_ms: integerOrUndefined(form, 'timeout_ms'),
      retries: integerOrUndefined(form, 'retries'),
      preserve_host: form.get('preserve_host') === 'on' ? true : undefined,
    },
    environment,
    scopes: listOrUndefined(form, 'scopes'),
    policies: listOrUndefined(form, 'policies'),
    jwt_providers: listOrUndefined(form, 'jwt_providers'),
    ip: allow || deny ? { allow, deny } : undefined,
    open_to_all_clients: form.get('open_to_all_clients') === 'on' ? true : undefined,
    keep_credential: form.get('keep_credential') === 'on' ? true : undefined,
  };
}

function overridesOf(route: Route | undefined): Override[] {
  if (!route) return [];
  return Object.entries(route.methods)
    .filter(([method]) => method !== '*')
    .map(([method, auth]) => ({ key: nextOverride++, method, auth: auth.join(',') }));
}

/** Add (no `route`) or edit (`route`) a route. `onSaved` gets the stored route. */
export function RouteFormDialog({
  open,
  route,
  onClose,
  onSaved,
}: {
  open: boolean;
  route?: Route;
  onClose: () => void;
  onSaved: (route: Route) => void;
}) {
  const editing = route !== undefined;
  const fallback = route?.methods['*']?.join(',') ?? (editing ? NOT_SERVED : 'api_key');
  const hasMore = Boolean(
    route &&
      (route.scopes?.length ||
        route.policies?.length ||
        route.jwt_providers?.length ||
        route.ip?.allow?.length ||
        route.ip?.deny?.length ||
        route.open_to_all_clients ||
        route.keep_credential),
  );
  return (
    <FormDialog
      open={open}
      wide
      title={editing ? `Edit route ${route.id}` : 'Add a route'}
      submitLabel={editing ? 'Save route' : 'Add route'}
      onClose={onClose}
      onSubmit={async (form) => {
        const spec = specFrom(form);
        const saved = editing
          ? await api.put('/admin/api/routes/{id}', { params: { id: route.id }, body: spec })
          : await api.post('/admin/api/routes', { body: spec });
        onSaved(saved);
      }}
    >
      <div className="route-form">
        <fieldset>
          <legend>What it serves</legend>
          <div className="form-grid">
            <Field
              label="Route ID"
              name="id"
              required
              defaultValue={route?.id}
              readOnly={editing}
              placeholder="orders"
              hint={
                editing
                  ? 'An id cannot change: add a new route, then remove this one.'
                  : 'a-z, 0-9, "_", "." or "-"'
              }
            />
            <Field
              label="Host"
              name="host"
              defaultValue={route?.host ?? '*'}
              placeholder="*"
              hint='"api.example.com", "*.example.com" or "*" for any host'
            />
            <Field
              label="Path"
              name="path"
              required
              defaultValue={route?.path}
              placeholder="/v1/orders/*"
              hint='Exact "/v1/orders", parameter "/v1/orders/:id" or prefix "/v1/orders/*"'
            />
            <Field label="Description" name="description" defaultValue={route?.description} maxLength={500} />
          </div>
        </fieldset>
        <fieldset>
          <legend>Who may call it</legend>
          <div className="form-grid">
            <Select
              label="Auth"
              name="auth_default"
              options={authOptions(fallback, true)}
              defaultValue={fallback}
              hint="What every method not listed below requires."
            />
            <Select
              label="Environment"
              name="environment"
              defaultValue={route?.environment ?? ''}
              options={[
                { value: '', label: 'Any' },
                { value: 'live', label: 'live keys only' },
                { value: 'test', label: 'test keys only' },
              ]}
              hint="Keys of the other environment are refused."
            />
          </div>
          <MethodOverrides initial={overridesOf(route)} />
        </fieldset>
        <fieldset>
          <legend>Where it goes</legend>
          <div className="form-grid">
            <Field
              label="Upstream URL"
              name="upstream_url"
              required
              inputMode="url"
              defaultValue={route?.upstream.url}
              placeholder="http://orders.internal:3000"
              hint="Its path, if any, is put in front of forwarded paths."
            />
            <Field
              label="Strip prefix"
              name="strip_prefix"
              defaultValue={route?.upstream.strip_prefix}
              placeholder="/v1"
              hint="Removed from the path before forwarding."
            />
            <Field
              label="Timeout (ms)"
              name="timeout_ms"
              type="number"
              defaultValue={route?.upstream.timeout_ms}
              placeholder="gateway default"
              hint="Time to the upstream's response headers."
            />
            <Field
              label="Retries"
              name="retries"
              type="number"
              defaultValue={route?.upstream.retries}
              placeholder="0"
              hint="Body-less idempotent requests, on connection failure only."
            />
          </div>
          <Check
            label="Preserve host"
            name="preserve_host"
            checked={route?.upstream.preserve_host}
            hint="Forward the client's Host header instead of the upstream's."
          />
        </fieldset>
        <details open={hasMore}>
          <summary>Scopes, policies, JWT providers, IP lists</summary>
          <div className="form-grid">
            <Field
              label="Required scopes"
              name="scopes"
              defaultValue={route?.scopes?.join(', ')}
              placeholder="orders:read"
              hint="Comma-separated; a credential must carry all of them."
            />
            <Field
              label="Policies"
              name="policies"
              defaultValue={route?.policies?.join(', ')}
              placeholder="per-key-100rps"
              hint="Rate-limit policy ids, comma-separated."
            />
            <Field
              label="JWT providers"
              name="jwt_providers"
              defaultValue={route?.jwt_providers?.join(', ')}
              hint="Provider ids this route accepts; empty accepts all."
            />
            <Field
              label="IP allow-list"
              name="ip_allow"
              defaultValue={route?.ip?.allow?.join(', ')}
              placeholder="10.0.0.0/8"
              hint="Addresses or CIDRs; when set, all others are refused."
            />
            <Field
              label="IP deny-list"
              name="ip_deny"
              defaultValue={route?.ip?.deny?.join(', ')}
              placeholder="10.66.0.0/16"
            />
          </div>
          <Check
            label="Open to all clients"
            name="open_to_all_clients"
            checked={route?.open_to_all_clients}
            hint="Skip per-client grants."
          />
          <Check
            label="Keep credential"
            name="keep_credential"
            checked={route?.keep_credential}
            hint="Forward the caller's credential to the upstream."
          />
        </details>
      </div>
    </FormDialog>
  );
}
