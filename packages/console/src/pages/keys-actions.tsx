/**
 * What an admin can do to one key: edit (PATCH, only the fields that changed), revoke with a
 * reason, rotate with a grace period. Rotation's new secret goes to the caller's state only.
 */
import type { paths } from '@portcullis/sdk/browser';
import { FormDialog } from '../components/dialog';
import { Field, optional, required, Select } from '../components/field';
import { api } from '../lib/api';
import { formatTime, splitList } from '../lib/format';
import { BINDING_OPTIONS, type BindingMode, optionalInt } from './keys-create';
import { type Key, remainingUses } from './keys-status';

/** The rotate answer: the new plaintext (once), its display prefix, the old secrets' end. */
export interface RotatedKey {
  id: string;
  key: string;
  prefix: string;
  oldSecretsExpireAt: string;
}

type KeyPatch = paths['/admin/api/keys/{id}']['patch']['requestBody']['content']['application/json'];

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((item, i) => item === b[i]);

export function RevokeKeyDialog({
  open,
  keyRecord,
  onClose,
  onDone,
}: {
  open: boolean;
  keyRecord: Key;
  onClose: () => void;
  onDone: () => void;
}) {
  return (
    <FormDialog
      open={open}
      title="Revoke key"
      submitLabel="Revoke key"
      danger
      onClose={onClose}
      onSubmit={async (form) => {
        await api.post('/admin/api/keys/{id}/revoke', {
          params: { id: keyRecord.id },
          body: { reason: required(form, 'reason') },
        });
        onDone();
      }}
    >
      <p>
        Every secret of <strong>{keyRecord.name ?? keyRecord.id}</strong> is refused at once, on every
        instance within a second. This cannot be undone.
      </p>
      <Field
        label="Reason"
        name="reason"
        required
        maxLength={1000}
        hint="Kept for admins; callers only see key_revoked."
      />
    </FormDialog>
  );
}

export function RotateKeyDialog({
  open,
  keyRecord,
  onClose,
  onRotated,
}: {
  open: boolean;
  keyRecord: Key;
  onClose: () => void;
  onRotated: (rotated: RotatedKey) => void;
}) {
  return (
    <FormDialog
      open={open}
      title="Rotate key"
      submitLabel="Rotate key"
      onClose={onClose}
      onSubmit={async (form) => {
        const rotated = await api.post('/admin/api/keys/{id}/rotate', {
          params: { id: keyRecord.id },
          body: { grace: optional(form, 'grace') },
        });
        onRotated(rotated);
      }}
    >
      <p>
        A new secret for the same key: limits, quota, remaining uses and usage history carry on. The old
        secret keeps working for the grace period, then is refused.
      </p>
      <Field
        label="Grace period"
        name="grace"
        placeholder="24h"
        hint="For example 1h, 24h, 7d. Empty: 24h."
      />
    </FormDialog>
  );
}

export function EditKeyDialog({
  open,
  keyRecord,
  onClose,
  onDone,
}: {
  open: boolean;
  keyRecord: Key;
  onClose: () => void;
  onDone: () => void;
}) {
  const left = remainingUses(keyRecord);
  return (
    <FormDialog
      open={open}
      title="Edit key"
      submitLabel="Save changes"
      onClose={onClose}
      onSubmit={async (form) => {
        const body: KeyPatch = {};
        const name = required(form, 'name');
        if (name !== (keyRecord.name ?? '')) body.name = name;
        const scopes = splitList(required(form, 'scopes'));
        if (!sameList(scopes, keyRecord.scopes)) body.scopes = scopes;
        const expires = optional(form, 'expires');
        if (expires !== undefined) body.expires = expires;
        const ipAllow = splitList(required(form, 'ipAllow'));
        if (!sameList(ipAllow, keyRecord.ipAllow)) body.ipAllow = ipAllow;
        const ipDeny = splitList(required(form, 'ipDeny'));
        if (!sameList(ipDeny, keyRecord.ipDeny)) body.ipDeny = ipDeny;
        const binding = required(form, 'binding') as BindingMode;
        if (binding !== keyRecord.binding) body.binding = binding;
        const maxIps = optionalInt(form, 'maxIps');
        if (maxIps !== undefined && maxIps !== keyRecord.maxIps) body.maxIps = maxIps;
        const uses = optional(form, 'usesBudget');
        if (uses !== undefined) {
          if (uses.toLowerCase() === 'unlimited') body.usesBudget = null;
          else if (/^\d+$/.test(uses)) body.usesBudget = Number(uses);
          else throw new Error('Remaining uses: a whole number, or "unlimited".');
        }
        if (Object.keys(body).length === 0) return;
        await api.patch('/admin/api/keys/{id}', { params: { id: keyRecord.id }, body });
        onDone();
      }}
    >
      <Field label="Name" name="name" maxLength={1000} defaultValue={keyRecord.name ?? ''} />
      <Field
        label="Scopes"
        name="scopes"
        defaultValue={keyRecord.scopes.join(' ')}
        hint="Comma or space separated. Empty: none."
      />
      <div className="grid">
        <Field
          label="Expires"
          name="expires"
          placeholder="90d, 2027-01-01 or never"
          hint={`Now: ${keyRecord.expiresAt ? formatTime(keyRecord.expiresAt) : 'never'}. Empty keeps it; a past date ends it at once.`}
        />
        <Field
          label="Remaining uses"
          name="usesBudget"
          placeholder="unchanged"
          hint={`Now: ${left === null ? 'unlimited' : `${left} of ${keyRecord.usesBudget}`}. A number starts a new count; "unlimited" removes the budget.`}
        />
      </div>
      <div className="grid">
        <Field
          label="IP allow-list"
          name="ipAllow"
          defaultValue={keyRecord.ipAllow.join(', ')}
          hint="CIDRs or addresses. Empty: any address."
        />
        <Field
          label="IP deny-list"
          name="ipDeny"
          defaultValue={keyRecord.ipDeny.join(', ')}
          hint="Refused even when allowed by the other list."
        />
      </div>
      <div className="grid">
        <Select
          label="Binding"
          name="binding"
          defaultValue={keyRecord.binding}
          options={BINDING_OPTIONS}
          hint="An enforcing mode keeps the bound addresses that fit and drops the rest."
        />
        <Field
          label="Max IPs"
          name="maxIps"
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          defaultValue={keyRecord.maxIps ?? ''}
          hint="How many addresses a multiple mode holds."
        />
      </div>
    </FormDialog>
  );
}
