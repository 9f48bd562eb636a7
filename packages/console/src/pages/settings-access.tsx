/**
 * Who may use the console and the admin API: admin users (admin or viewer role) and service
 * tokens for scripts. A new password or token is shown once, then only its owner has it.
 */
import { type ReactNode, useState } from 'react';
import { DataTable, PagedTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, required, Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { SecretOnceDialog } from '../components/secret-dialog';
import { Badge, Loaded } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { useSession } from '../lib/session';
import { usePaged } from '../lib/use-paged';

/** A password or token to show once, with what it is and how to use it. */
interface OnceSecret {
  title: string;
  label: string;
  value: string;
  hint?: ReactNode;
}

type User = Schemas['AdminUser'];
type Token = Schemas['ServiceToken'];

/** 144 random bits as base64url: 24 characters, inside the 12–1024 the API asks for. */
function generatePassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_');
}

export function AdminUsers() {
  const { run } = useNotify();
  const { user: me, canWrite } = useSession();
  const users = usePaged(
    (cursor, signal) => api.get('/admin/api/users', { query: { limit: 100, cursor }, signal }),
    [],
  );
  const [adding, setAdding] = useState(false);
  const [secret, setSecret] = useState<OnceSecret | null>(null);

  const setDisabled = async (user: User, disabled: boolean) => {
    if (
      disabled &&
      !window.confirm(`Disable ${user.username}? Their sessions end now and they cannot sign in.`)
    )
      return;
    await run(
      () => api.patch('/admin/api/users/{id}', { params: { id: user.id }, body: { disabled } }),
      `${user.username} ${disabled ? 'disabled' : 'enabled'}`,
    );
    users.reload();
  };

  const remove = async (user: User) => {
    if (!window.confirm(`Remove ${user.username}? Their sessions end now.`)) return;
    await run(
      () => api.delete('/admin/api/users/{id}', { params: { id: user.id } }),
      `${user.username} removed`,
    );
    users.reload();
  };

  return (
    <>
      <div className="section-head">
        <h3 id="users-heading">Users</h3>
        <IfCanWrite>
          <button type="button" onClick={() => setAdding(true)}>
            Add user
          </button>
        </IfCanWrite>
      </div>
      <p className="muted">
        People who sign in to this console. Admins change things; viewers see everything and change nothing.
      </p>
      <Loaded state={users} empty={{ when: (rows) => rows.length === 0, title: 'No users' }}>
        {(rows) => (
          <DataTable
            caption="Admin users"
            rows={rows}
            rowKey={(row) => row.id}
            onLoadMore={users.loadMore}
            loadingMore={users.loadingMore}
            columns={[
              {
                header: 'Username',
                cell: (row) => (
                  <>
                    <strong>{row.username}</strong>
                    {row.username === me?.name ? <span className="muted"> (you)</span> : null}
                  </>
                ),
              },
              {
                header: 'Role',
                cell: (row) => <Badge tone={row.role === 'admin' ? 'warn' : 'neutral'}>{row.role}</Badge>,
              },
              {
                header: 'Status',
                cell: (row) =>
                  row.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">active</Badge>,
              },
              { header: 'Added', cell: (row) => formatTime(row.createdAt) },
              { header: 'Password set', cell: (row) => formatRelative(row.passwordChangedAt) },
              ...(canWrite
                ? [
                    {
                      header: 'Actions',
                      cell: (row: User) => (
                        <IfCanWrite>
                          <div className="row-actions">
                            <button
                              type="button"
                              className="secondary"
                              onClick={() => void setDisabled(row, !row.disabled)}
                            >
                              {row.disabled ? 'Enable' : 'Disable'}
                              <span className="visually-hidden"> {row.username}</span>
                            </button>
                            <button
                              type="button"
                              className="secondary outline"
                              onClick={() => void remove(row)}
                            >
                              Remove<span className="visually-hidden"> {row.username}</span>
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
        title="Add a user"
        submitLabel="Add user"
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          const username = required(form, 'username');
          // A typed password is used as typed (spaces included); empty means "generate one".
          const typed = String(form.get('password') ?? '');
          const password = typed === '' ? generatePassword() : typed;
          const role = required(form, 'role') as User['role'];
          await api.post('/admin/api/users', { body: { username, password, role } });
          setSecret({
            title: `User ${username} added`,
            label: `Password for ${username}`,
            value: password,
            hint: `Give it to ${username} over a safe channel; they sign in at this console with it (role: ${role}).`,
          });
          users.reload();
        }}
      >
        <div className="settings-form">
          <Field label="Username" name="username" required autoComplete="off" maxLength={200} />
          <Select
            label="Role"
            name="role"
            defaultValue="viewer"
            options={[
              { value: 'viewer', label: 'viewer: sees everything, changes nothing' },
              { value: 'admin', label: 'admin: may change everything' },
            ]}
          />
          <Field
            label="Password"
            name="password"
            type="password"
            autoComplete="new-password"
            maxLength={1024}
            hint="12 characters or more. Leave empty to generate a strong one. Either way it is shown once after adding."
          />
        </div>
      </FormDialog>
      <SecretOnceDialog
        secret={secret?.value ?? null}
        title={secret?.title ?? ''}
        label={secret?.label}
        testId="new-secret"
        onDone={() => setSecret(null)}
      >
        {secret?.hint ? <p className="muted">{secret.hint}</p> : null}
      </SecretOnceDialog>
    </>
  );
}

function tokenState(token: Token) {
  if (token.revokedAt) return <Badge tone="bad">revoked</Badge>;
  if (token.expiresAt && new Date(token.expiresAt).getTime() < Date.now())
    return <Badge tone="warn">expired</Badge>;
  return <Badge tone="ok">active</Badge>;
}

export function ServiceTokens() {
  const { canWrite } = useSession();
  const { run } = useNotify();
  const [showRevoked, setShowRevoked] = useState(false);
  const tokens = usePaged(
    (cursor, signal) =>
      api.get('/admin/api/tokens', {
        query: { limit: 100, cursor, revoked: showRevoked ? undefined : false },
        signal,
      }),
    [showRevoked],
  );
  const [adding, setAdding] = useState(false);
  const [secret, setSecret] = useState<OnceSecret | null>(null);

  const revoke = async (token: Token) => {
    if (
      !window.confirm(
        `Revoke the token “${token.name}” (${token.prefix}…)? Anything using it is refused from its next call.`,
      )
    )
      return;
    await run(
      () => api.post('/admin/api/tokens/{id}/revoke', { params: { id: token.id }, body: {} }),
      'Token revoked',
    );
    tokens.reload();
  };

  return (
    <>
      <div className="section-head">
        <h3 id="tokens-heading">API tokens</h3>
        <IfCanWrite>
          <button type="button" onClick={() => setAdding(true)}>
            Create token
          </button>
        </IfCanWrite>
      </div>
      <p className="muted">
        For scripts and the CLI (<code>--token</code>): admin and viewer tokens use this API, verifier tokens
        only the verification API.
      </p>
      <label className="inline-check">
        <input
          type="checkbox"
          checked={showRevoked}
          onChange={(event) => setShowRevoked(event.target.checked)}
        />{' '}
        Show revoked tokens
      </label>
      <PagedTable
        state={tokens}
        empty={{
          title: 'No API tokens',
          hint: 'Create one for a script or a remote CLI; people sign in with a user instead.',
        }}
        caption="API tokens"
        rowKey={(row) => row.id}
        columns={[
          { header: 'Name', cell: (row) => row.name },
          { header: 'Role', cell: (row) => <Badge>{row.role}</Badge> },
          { header: 'Prefix', cell: (row) => <code>{row.prefix}…</code> },
          { header: 'State', cell: tokenState },
          { header: 'Created', cell: (row) => formatTime(row.createdAt) },
          { header: 'Expires', cell: (row) => (row.expiresAt ? formatRelative(row.expiresAt) : 'never') },
          {
            header: 'Last used',
            cell: (row) => (row.lastUsedAt ? formatRelative(row.lastUsedAt) : 'never'),
          },
          ...(canWrite
            ? [
                {
                  header: 'Actions',
                  cell: (row: Token) =>
                    row.revokedAt ? null : (
                      <IfCanWrite>
                        <div className="row-actions">
                          <button
                            type="button"
                            className="secondary outline"
                            onClick={() => void revoke(row)}
                          >
                            Revoke<span className="visually-hidden"> token {row.name}</span>
                          </button>
                        </div>
                      </IfCanWrite>
                    ),
                },
              ]
            : []),
        ]}
      />
      <FormDialog
        open={adding}
        title="Create an API token"
        submitLabel="Create token"
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          const created = await api.post('/admin/api/tokens', {
            body: {
              name: optional(form, 'name'),
              role: required(form, 'role') as Token['role'],
              expires: optional(form, 'expires'),
            },
          });
          setSecret({
            title: 'Token created',
            label: `Token “${created.name}” (${created.role})`,
            value: created.token,
            hint: (
              <>
                Send it as <code>Authorization: Bearer …</code>, or pass it to the CLI with{' '}
                <code>--token</code>.
              </>
            ),
          });
          tokens.reload();
        }}
      >
        <div className="settings-form">
          <Field
            label="Name"
            name="name"
            required
            maxLength={1000}
            placeholder="deploy pipeline"
            hint="What it is for."
          />
          <Select
            label="Role"
            name="role"
            defaultValue="viewer"
            options={[
              { value: 'viewer', label: 'viewer: reads the admin API' },
              { value: 'admin', label: 'admin: changes through the admin API' },
              { value: 'verifier', label: 'verifier: the verification API only' },
            ]}
          />
          <Field
            label="Expires"
            name="expires"
            placeholder="90d, 2027-01-01 or never"
            hint="Empty means never."
          />
        </div>
      </FormDialog>
      <SecretOnceDialog
        secret={secret?.value ?? null}
        title={secret?.title ?? ''}
        label={secret?.label}
        testId="new-secret"
        onDone={() => setSecret(null)}
      >
        {secret?.hint ? <p className="muted">{secret.hint}</p> : null}
      </SecretOnceDialog>
    </>
  );
}
