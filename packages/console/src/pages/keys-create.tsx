/**
 * "Create key": the form, then the plaintext once. The new key is handed to the caller's
 * state only; the caller shows it in a SecretOnceDialog and drops it when that closes.
 */
import { Link } from 'wouter';
import { FormDialog } from '../components/dialog';
import { Field, optional, required, Select } from '../components/field';
import { api, type Schemas } from '../lib/api';
import { splitList } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';

export type CreatedKey = Schemas['Key'] & { key: string };

export const BINDING_OPTIONS = [
  { value: 'off', label: 'off: any address' },
  { value: 'single', label: 'single: the first address only' },
  { value: 'multiple', label: 'multiple: the first N addresses' },
  { value: 'all', label: 'all: record every address, refuse none' },
] as const;

export type BindingMode = (typeof BINDING_OPTIONS)[number]['value'];

/** A whole number from a form, undefined when left empty (the browser checked the format). */
export function optionalInt(form: FormData, name: string): number | undefined {
  const value = optional(form, name);
  return value === undefined ? undefined : Number(value);
}

export function CreateKeyDialog({
  open,
  client,
  onClose,
  onCreated,
}: {
  open: boolean;
  /** Preselected client (the list's filter), if any. */
  client?: string | undefined;
  onClose: () => void;
  onCreated: (created: CreatedKey) => void;
}) {
  return (
    <FormDialog
      open={open}
      title="Create an API key"
      submitLabel="Create key"
      onClose={onClose}
      onSubmit={async (form) => {
        const scopes = splitList(required(form, 'scopes'));
        const ipAllow = splitList(required(form, 'ipAllow'));
        const created = await api.post('/admin/api/keys', {
          body: {
            client: required(form, 'client'),
            environment: required(form, 'environment') === 'test' ? 'test' : 'live',
            name: optional(form, 'name'),
            scopes: scopes.length > 0 ? scopes : undefined,
            expires: optional(form, 'expires'),
            ipAllow: ipAllow.length > 0 ? ipAllow : undefined,
            binding: required(form, 'binding') as BindingMode,
            maxIps: optionalInt(form, 'maxIps'),
            usesBudget: optionalInt(form, 'usesBudget'),
          },
        });
        onCreated(created);
      }}
    >
      <div className="grid">
        <ClientSelect defaultValue={client} />
        <Select
          label="Environment"
          name="environment"
          defaultValue="live"
          options={[
            { value: 'live', label: 'live' },
            { value: 'test', label: 'test' },
          ]}
          hint="A route set to one environment refuses keys of the other."
        />
      </div>
      <Field label="Name" name="name" maxLength={1000} placeholder="iOS app, production" />
      <Field
        label="Scopes"
        name="scopes"
        placeholder="orders:read orders:write"
        hint="Comma or space separated. Routes that list scopes need every one."
      />
      <div className="grid">
        <Field label="Expires" name="expires" placeholder="90d, 2027-01-01" hint="Empty: never." />
        <Field
          label="Remaining uses"
          name="usesBudget"
          type="number"
          min={0}
          step={1}
          inputMode="numeric"
          hint="Each allowed request takes one. Empty: unlimited."
        />
      </div>
      <Field
        label="IP allow-list"
        name="ipAllow"
        placeholder="10.0.0.0/8, 2001:db8::/32"
        hint="CIDRs or addresses, comma or space separated. Empty: any address."
      />
      <div className="grid">
        <Select
          label="Binding"
          name="binding"
          defaultValue="off"
          options={BINDING_OPTIONS}
          hint="Ties the key to the first addresses that use it; others get 403."
        />
        <Field
          label="Max IPs"
          name="maxIps"
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          hint="How many addresses a multiple mode holds (required for it)."
        />
      </div>
    </FormDialog>
  );
}

/** The client select, filled from the API when the dialog opens. */
function ClientSelect({ defaultValue }: { defaultValue?: string | undefined }) {
  const clients = useApi((signal) => api.get('/admin/api/clients', { query: { limit: 1000 }, signal }), []);
  const items = clients.data?.items ?? [];
  if (clients.data && items.length === 0) {
    return (
      <p className="form-error" role="alert">
        There is no client yet: add one under <Link href={consoleHref('/clients')}>Clients &amp; grants</Link>{' '}
        first.
      </p>
    );
  }
  return (
    <Select
      label="Client"
      name="client"
      required
      // Remount once loaded so the default applies to the real options.
      key={clients.data ? 'loaded' : 'loading'}
      defaultValue={defaultValue ?? items[0]?.id}
      aria-busy={clients.loading && !clients.data}
      options={
        clients.data
          ? items.map((c) => ({
              value: c.id,
              label: c.status === 'active' ? `${c.name} (${c.id})` : `${c.name} (${c.id}, ${c.status})`,
            }))
          : [{ value: '', label: 'Loading clients…' }]
      }
      hint={clients.error ? 'Clients could not be loaded; retry by reopening this dialog.' : undefined}
    />
  );
}
