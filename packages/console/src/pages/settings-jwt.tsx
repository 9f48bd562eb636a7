/**
 * JWT providers: whose tokens routes requiring `jwt` accept (issuer, audience, algorithms,
 * and where the verification key comes from). A shared secret is sent once, stored sealed
 * and never shown again; the console keeps it only in the form while it is typed.
 */

import type { paths } from '@portcullis/sdk/browser';
import { useState } from 'react';
import { DataTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Badge, Loaded } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatTime, splitList } from '../lib/format';
import { useSession } from '../lib/session';
import { useApi } from '../lib/use-api';

type Provider = Schemas['JwtProvider'];
type ProviderSpec = paths['/admin/api/jwt-providers']['post']['requestBody']['content']['application/json'];
type Source = 'jwks_url' | 'public_key' | 'secret';

async function loadProviders(signal: AbortSignal): Promise<Provider[]> {
  const providers: Provider[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get('/admin/api/jwt-providers', { query: { limit: 1000, cursor }, signal });
    providers.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return providers;
}

function sourceText(provider: Provider) {
  switch (provider.key_source) {
    case 'jwks_url':
      return (
        <>
          JWKS <code>{provider.jwks_url}</code>
        </>
      );
    case 'public_key':
      return 'Public key';
    case 'shared_secret':
      return 'Shared secret (sealed)';
  }
}

function integer(form: FormData, name: string): number | undefined {
  const text = optional(form, name);
  return text === undefined ? undefined : Number(text);
}

function specFrom(form: FormData, source: Source): ProviderSpec {
  const audience = splitList(optional(form, 'audience') ?? '');
  const spec: ProviderSpec = {
    id: optional(form, 'id') ?? '',
    algorithms: splitList(optional(form, 'algorithms') ?? ''),
    issuer: optional(form, 'issuer'),
    audience: audience.length > 0 ? audience : undefined,
    clock_tolerance_s: integer(form, 'clock_tolerance_s'),
    typ: optional(form, 'typ'),
    max_age_s: integer(form, 'max_age_s'),
    require_exp: form.get('require_exp') === 'on',
  };
  const claims = {
    user: optional(form, 'claim_user'),
    scopes: optional(form, 'claim_scopes'),
    client: optional(form, 'claim_client'),
  };
  if (claims.user || claims.scopes || claims.client) spec.claims = claims;
  if (source === 'jwks_url') spec.jwks_url = optional(form, 'jwks_url') ?? '';
  // The key is sent as typed: PEM text or a JWK as JSON text, the API tells which.
  if (source === 'public_key') spec.public_key = String(form.get('public_key') ?? '').trim();
  if (source === 'secret') spec.secret = String(form.get('secret') ?? '');
  return spec;
}

function ProviderFields() {
  const [source, setSource] = useState<Source>('jwks_url');
  return (
    <div className="settings-form">
      <div className="form-grid">
        <Field label="Provider ID" name="id" required placeholder="auth0" hint='a-z, 0-9, "_", "." or "-"' />
        <Field
          label="Issuer"
          name="issuer"
          placeholder="https://example.eu.auth0.com/"
          hint="Required iss claim; strongly advised."
        />
        <Field
          label="Audience"
          name="audience"
          placeholder="https://api.example.com"
          hint="Accepted aud values, comma-separated."
        />
        <Field
          label="Algorithms"
          name="algorithms"
          required
          defaultValue={source === 'secret' ? 'HS256' : 'RS256'}
          key={source === 'secret' ? 'hs' : 'pk'}
          hint="One family, comma-separated: RS*, PS*, ES* or EdDSA with a key; HS* with a secret."
        />
      </div>
      <Select
        label="Verification key"
        name="source"
        value={source}
        onChange={(event) => setSource(event.target.value as Source)}
        options={[
          { value: 'jwks_url', label: 'JWKS URL (keys fetched and cached)' },
          { value: 'public_key', label: 'Public key (PEM or JWK)' },
          { value: 'secret', label: 'Shared secret (HS256/384/512)' },
        ]}
      />
      {source === 'jwks_url' ? (
        <Field
          label="JWKS URL"
          name="jwks_url"
          required
          inputMode="url"
          placeholder="https://example.eu.auth0.com/.well-known/jwks.json"
          hint="https (http only for localhost)."
        />
      ) : null}
      {source === 'public_key' ? (
        <label>
          Public key
          <textarea
            name="public_key"
            required
            rows={6}
            spellCheck={false}
            placeholder={'-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----'}
          />
          <small className="muted">A PEM “PUBLIC KEY” block, or a public JWK as JSON.</small>
        </label>
      ) : null}
      {source === 'secret' ? (
        <Field
          label="Shared secret"
          name="secret"
          type="password"
          required
          autoComplete="off"
          hint="At least 32 bytes. Stored sealed; nobody will see it again, here or in the API."
        />
      ) : null}
      <details>
        <summary>More checks and claims</summary>
        <div className="form-grid">
          <Field label="Clock tolerance (s)" name="clock_tolerance_s" type="number" placeholder="30" />
          <Field
            label="Maximum token age (s)"
            name="max_age_s"
            type="number"
            hint="Refuse tokens issued longer ago."
          />
          <Field label="Required typ header" name="typ" placeholder="at+jwt" />
          <Field label="User claim" name="claim_user" placeholder="sub" />
          <Field label="Scopes claim" name="claim_scopes" placeholder="scope, then scp" />
          <Field label="Client claim" name="claim_client" placeholder="azp or client_id" />
        </div>
        <label>
          <input type="checkbox" name="require_exp" defaultChecked /> Require an expiry (exp)
        </label>
      </details>
    </div>
  );
}

export function JwtProviders() {
  const { canWrite } = useSession();
  const { run } = useNotify();
  const providers = useApi(loadProviders, []);
  const [adding, setAdding] = useState(false);

  const remove = async (provider: Provider) => {
    if (!window.confirm(`Remove JWT provider ${provider.id}? Its tokens will be refused at once.`)) return;
    await run(
      () => api.delete('/admin/api/jwt-providers/{id}', { params: { id: provider.id } }),
      `JWT provider ${provider.id} removed`,
    );
    providers.reload();
  };

  return (
    <>
      <div className="section-head">
        <p className="muted">Who issues the tokens that routes requiring JWT accept.</p>
        <IfCanWrite>
          <button type="button" onClick={() => setAdding(true)}>
            Add JWT provider
          </button>
        </IfCanWrite>
      </div>
      <Loaded
        state={providers}
        empty={{
          when: (list) => list.length === 0,
          title: 'No JWT providers',
          hint: 'Routes that require JWT refuse every token until a provider is added (for example your identity provider’s JWKS URL).',
        }}
      >
        {(list) => (
          <DataTable
            caption="JWT providers"
            rows={list}
            rowKey={(row) => row.id}
            columns={[
              { header: 'ID', cell: (row) => <strong>{row.id}</strong> },
              { header: 'Key', cell: sourceText },
              { header: 'Algorithms', cell: (row) => row.algorithms.join(', ') },
              {
                header: 'Issuer',
                cell: (row) => (row.issuer ? <code>{row.issuer}</code> : <Badge tone="warn">any</Badge>),
              },
              {
                header: 'Audience',
                cell: (row) =>
                  row.audience === undefined ? (
                    <span className="muted">any</span>
                  ) : Array.isArray(row.audience) ? (
                    row.audience.join(', ')
                  ) : (
                    row.audience
                  ),
              },
              { header: 'Added', cell: (row) => formatTime(row.created_at) },
              ...(canWrite
                ? [
                    {
                      header: 'Actions',
                      cell: (row: Provider) => (
                        <IfCanWrite>
                          <div className="row-actions">
                            <button
                              type="button"
                              className="secondary outline"
                              onClick={() => void remove(row)}
                            >
                              Remove<span className="visually-hidden"> JWT provider {row.id}</span>
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
      <FormDialog
        open={adding}
        wide
        title="Add a JWT provider"
        submitLabel="Add provider"
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          const source = (optional(form, 'source') ?? 'jwks_url') as Source;
          await api.post('/admin/api/jwt-providers', { body: specFrom(form, source) });
          providers.reload();
        }}
      >
        <ProviderFields />
      </FormDialog>
    </>
  );
}
