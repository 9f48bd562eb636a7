/**
 * One key: what it is (all fields, secrets by display prefix), how it stands (status, last
 * use, expiry, remaining uses), its traffic, its IP binding, and the admin's actions on it.
 */
import { useState } from 'react';
import { Link } from 'wouter';
import { DataTable } from '../components/data-table';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { SecretOnceDialog } from '../components/secret-dialog';
import { Badge, EmptyState, Loaded, PageHeader } from '../components/states';
import { api, isPortcullisError } from '../lib/api';
import { formatNumber, formatRelative, formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';
import { EditKeyDialog, RevokeKeyDialog, type RotatedKey, RotateKeyDialog } from './keys-actions';
import { type Key, KeyStatusBadge, keyState, remainingUses } from './keys-status';
import { KeyUsage } from './keys-usage';
import './keys.css';

type Dialog = 'edit' | 'revoke' | 'rotate' | null;

export function KeyDetail({ id }: { id: string }) {
  const key = useApi((signal) => api.get('/admin/api/keys/{id}', { params: { id }, signal }), [id]);
  if (isPortcullisError(key.error) && key.error.status === 404) {
    return (
      <EmptyState title="No such key">
        There is no key <code>{id}</code>. <Link href={consoleHref('/keys')}>Back to the keys</Link>
      </EmptyState>
    );
  }
  return <Loaded state={key}>{(data) => <KeyView keyRecord={data} reload={key.reload} />}</Loaded>;
}

function KeyView({ keyRecord, reload }: { keyRecord: Key; reload: () => void }) {
  const { notify } = useNotify();
  const [dialog, setDialog] = useState<Dialog>(null);
  // The rotated key's new plaintext: in this state only, dropped when its dialog closes.
  const [rotated, setRotated] = useState<RotatedKey | null>(null);
  const state = keyState(keyRecord);
  const left = remainingUses(keyRecord);
  const revoked = keyRecord.status === 'revoked';

  return (
    <>
      <p className="kv-back">
        <Link href={consoleHref('/keys')}>← Keys</Link>
      </p>
      <PageHeader
        title={keyRecord.name ?? keyRecord.id}
        subtitle={
          <>
            <code>{keyRecord.id}</code> · client{' '}
            <Link href={consoleHref(`/clients/${encodeURIComponent(keyRecord.client)}`)}>
              {keyRecord.client}
            </Link>{' '}
            · {keyRecord.environment}
          </>
        }
        actions={
          <IfCanWrite>
            <button type="button" className="secondary" onClick={() => setDialog('edit')}>
              Edit
            </button>
            {revoked ? null : (
              <>
                <button type="button" className="secondary" onClick={() => setDialog('rotate')}>
                  Rotate
                </button>
                <button type="button" className="danger" onClick={() => setDialog('revoke')}>
                  Revoke
                </button>
              </>
            )}
          </IfCanWrite>
        }
      />

      <div className="grid-cards kv-cards">
        <article>
          <h2 className="kv-card-title">Status</h2>
          <p className="stat">
            <KeyStatusBadge keyRecord={keyRecord} />
          </p>
          {keyRecord.revokedReason ? <p className="muted">Reason: {keyRecord.revokedReason}</p> : null}
          {state.label === 'active' ? <p className="muted">Accepted by the gateway.</p> : null}
        </article>
        <article>
          <h2 className="kv-card-title">Last used</h2>
          <p className="stat">{keyRecord.lastUsedAt ? formatRelative(keyRecord.lastUsedAt) : 'never'}</p>
          <p className="muted">
            {keyRecord.lastUsedAt ? formatTime(keyRecord.lastUsedAt) : 'No request yet.'}
          </p>
        </article>
        <article>
          <h2 className="kv-card-title">Expires</h2>
          <p className="stat">{keyRecord.expiresAt ? formatRelative(keyRecord.expiresAt) : 'never'}</p>
          <p className="muted">{keyRecord.expiresAt ? formatTime(keyRecord.expiresAt) : 'No expiry set.'}</p>
        </article>
        <article>
          <h2 className="kv-card-title">Remaining uses</h2>
          <p className="stat">{left === null ? 'unlimited' : formatNumber(left)}</p>
          <p className="muted">
            {keyRecord.usesBudget === null
              ? `${formatNumber(keyRecord.usesConsumed)} used.`
              : `${formatNumber(keyRecord.usesConsumed)} of ${formatNumber(keyRecord.usesBudget)} used.`}
          </p>
        </article>
      </div>

      <KeyUsage id={keyRecord.id} />

      <section aria-labelledby="key-fields-heading">
        <h2 id="key-fields-heading" className="kv-heading">
          Details
        </h2>
        <dl className="kv-facts">
          <dt>Key id (lineage)</dt>
          <dd>
            <code>{keyRecord.id}</code>
            <small className="muted"> the same across rotations: limits, quota and usage follow it</small>
          </dd>
          <dt>Client</dt>
          <dd>{keyRecord.client}</dd>
          <dt>Environment</dt>
          <dd>{keyRecord.environment}</dd>
          <dt>Scopes</dt>
          <dd>{keyRecord.scopes.length ? keyRecord.scopes.map((s) => <code key={s}>{s}</code>) : 'none'}</dd>
          <dt>IP allow-list</dt>
          <dd>
            {keyRecord.ipAllow.length
              ? keyRecord.ipAllow.map((c) => <code key={c}>{c}</code>)
              : 'any address'}
          </dd>
          <dt>IP deny-list</dt>
          <dd>{keyRecord.ipDeny.length ? keyRecord.ipDeny.map((c) => <code key={c}>{c}</code>) : 'none'}</dd>
          <dt>Rate-limit policy</dt>
          <dd>{keyRecord.policy ? <code>{keyRecord.policy}</code> : "the route's"}</dd>
          <dt>Created</dt>
          <dd>{formatTime(keyRecord.createdAt)}</dd>
        </dl>
      </section>

      <section aria-labelledby="key-secrets-heading">
        <h2 id="key-secrets-heading" className="kv-heading">
          Secrets
        </h2>
        <p className="muted">
          Each rotation adds a secret to this key; older ones work until their grace period ends. Only display
          prefixes are kept in view.
        </p>
        <DataTable
          caption="Secrets of this key, newest first"
          rows={[...keyRecord.secrets].sort((a, b) => b.createdAt.localeCompare(a.createdAt))}
          rowKey={(row) => `${row.prefix}-${row.createdAt}`}
          columns={[
            { header: 'Prefix', cell: (row) => <code>{row.prefix}…</code> },
            { header: 'Created', cell: (row) => formatTime(row.createdAt) },
            {
              header: 'Valid',
              cell: (row) =>
                revoked ? (
                  <Badge tone="bad">revoked</Badge>
                ) : row.expiresAt === null ? (
                  <Badge tone="ok">current</Badge>
                ) : new Date(row.expiresAt).getTime() > Date.now() ? (
                  <Badge tone="warn">in grace, ends {formatRelative(row.expiresAt)}</Badge>
                ) : (
                  <Badge>ended {formatRelative(row.expiresAt)}</Badge>
                ),
            },
          ]}
        />
      </section>

      <KeyBinding keyRecord={keyRecord} />

      <EditKeyDialog
        open={dialog === 'edit'}
        keyRecord={keyRecord}
        onClose={() => setDialog(null)}
        onDone={() => {
          notify('ok', 'Key saved');
          reload();
        }}
      />
      <RevokeKeyDialog
        open={dialog === 'revoke'}
        keyRecord={keyRecord}
        onClose={() => setDialog(null)}
        onDone={() => {
          notify('ok', 'Key revoked');
          reload();
        }}
      />
      <RotateKeyDialog
        open={dialog === 'rotate'}
        keyRecord={keyRecord}
        onClose={() => setDialog(null)}
        onRotated={(result) => {
          setRotated(result);
          reload();
        }}
      />
      <SecretOnceDialog
        secret={rotated && dialog === null ? rotated.key : null}
        title="Your new API key"
        testId="new-key-secret"
        onDone={() => setRotated(null)}
      >
        {rotated ? (
          <p className="muted">
            The old secret keeps working until {formatTime(rotated.oldSecretsExpireAt)}.
          </p>
        ) : null}
      </SecretOnceDialog>
    </>
  );
}

/** The key's IP binding at a glance; changes are made on the binding's own page. */
function KeyBinding({ keyRecord }: { keyRecord: Key }) {
  const binding = useApi(
    (signal) => api.get('/admin/api/bindings/{keyId}', { params: { keyId: keyRecord.id }, signal }),
    [keyRecord.id, keyRecord.binding, keyRecord.maxIps],
  );
  return (
    <section aria-labelledby="key-binding-heading">
      <div className="kv-section-head">
        <h2 id="key-binding-heading">IP binding</h2>
        <Link href={consoleHref(`/bindings/${encodeURIComponent(keyRecord.id)}`)}>Manage binding</Link>
      </div>
      <Loaded state={binding}>
        {(data) => (
          <dl className="kv-facts">
            <dt>Mode</dt>
            <dd>
              <Badge tone={data.mode === 'off' ? 'neutral' : 'ok'}>{data.mode}</Badge>
              {data.mode === 'multiple' ? (
                <span className="muted"> up to {data.maxIps} addresses</span>
              ) : null}
              {data.banned ? <Badge tone="bad">banned</Badge> : null}
            </dd>
            <dt>Bound addresses</dt>
            <dd>
              {data.bindings.length
                ? data.bindings.map((b) => <code key={b.id}>{b.address}</code>)
                : data.mode === 'off'
                  ? 'none (binding is off)'
                  : 'none yet: the next request binds'}
            </dd>
            <dt>Recent intercepts</dt>
            <dd>
              {data.recentIntercepts.length === 0
                ? 'none'
                : `${data.recentIntercepts.length}${data.recentIntercepts.length >= 20 ? '+' : ''}, last ${formatRelative(data.recentIntercepts[0]?.at)}`}
            </dd>
          </dl>
        )}
      </Loaded>
    </section>
  );
}
