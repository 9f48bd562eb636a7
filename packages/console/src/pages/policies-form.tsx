/**
 * The policy editor. Its fields follow the algorithm (rate and burst for a token bucket,
 * limit and window for windows, limit and period for quotas, limit for concurrency), and only
 * those are sent; the API judges the values and its 422 is shown in the dialog.
 */

import type { paths } from '@portcullis/sdk/browser';
import { useId, useMemo, useState } from 'react';
import { FormDialog } from '../components/dialog';
import { Field, optional, Select } from '../components/field';
import { api, type Schemas } from '../lib/api';
import { splitList } from '../lib/format';

type Policy = Schemas['Policy'];
type PolicySpec = paths['/admin/api/policies']['post']['requestBody']['content']['application/json'];
export type Algorithm = Policy['algorithm'];

const ALGORITHMS: readonly { value: Algorithm; label: string }[] = [
  { value: 'token_bucket', label: 'Token bucket (rate and burst)' },
  { value: 'sliding_window', label: 'Sliding window' },
  { value: 'fixed_window', label: 'Fixed window' },
  { value: 'quota', label: 'Quota (per day, month or 24 h)' },
  { value: 'concurrency', label: 'Concurrency (requests in flight)' },
];
const KEY_BY = [
  { value: 'key', label: 'API key' },
  { value: 'client', label: 'Client' },
  { value: 'user', label: 'User' },
  { value: 'ip', label: 'Client IP address' },
  { value: 'route', label: 'Route' },
  { value: 'global', label: 'Everything together (global, alone)' },
] as const;

function Check({
  label,
  name,
  checked,
  hint,
}: {
  label: string;
  name: string;
  checked?: boolean;
  hint: string;
}) {
  const id = useId();
  return (
    <div className="check">
      <label>
        <input type="checkbox" name={name} defaultChecked={checked} aria-describedby={id} /> {label}
      </label>
      <small className="muted" id={id}>
        {hint}
      </small>
    </div>
  );
}

function timeZones(): string[] {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

function specFrom(form: FormData, algorithm: Algorithm): PolicySpec {
  const spec: PolicySpec = {
    id: optional(form, 'id') ?? '',
    algorithm,
    key_by: form.getAll('key_by').map(String),
    attach: splitList(optional(form, 'attach') ?? ''),
    on_store_failure: optional(form, 'on_store_failure'),
    shadow: form.get('shadow') === 'on',
  };
  const description = optional(form, 'description');
  if (description) spec.description = description;
  if (algorithm === 'token_bucket') {
    spec.rate = optional(form, 'rate') ?? '';
    const burst = optional(form, 'burst');
    if (burst) spec.burst = burst;
  } else {
    spec.limit = optional(form, 'limit') ?? '';
  }
  if (algorithm === 'sliding_window' || algorithm === 'fixed_window')
    spec.window = optional(form, 'window') ?? '';
  if (algorithm === 'quota') {
    spec.period = optional(form, 'period');
    if (spec.period !== 'rolling_24h') spec.time_zone = optional(form, 'time_zone');
  }
  if (algorithm !== 'concurrency') spec.refund_on_5xx = form.get('refund_on_5xx') === 'on';
  const prefix = optional(form, 'ipv6_prefix');
  if (prefix && spec.key_by?.includes('ip')) spec.ipv6_prefix = prefix;
  return spec;
}

function AlgorithmFields({ algorithm, policy }: { algorithm: Algorithm; policy?: Policy }) {
  const [period, setPeriod] = useState<string>(policy?.period ?? 'day');
  const zones = useMemo(timeZones, []);
  switch (algorithm) {
    case 'token_bucket':
      return (
        <div className="form-grid">
          <Field
            label="Rate"
            name="rate"
            required
            defaultValue={policy?.rate}
            placeholder="100/s"
            hint='Refill rate: "100/s", "5/m" or "5/10s".'
          />
          <Field
            label="Burst"
            name="burst"
            type="number"
            defaultValue={policy?.burst}
            placeholder="the rate's count"
            hint="Bucket size: how many requests may come at once."
          />
        </div>
      );
    case 'sliding_window':
    case 'fixed_window':
      return (
        <div className="form-grid">
          <Field
            label="Limit"
            name="limit"
            type="number"
            required
            defaultValue={policy?.limit}
            hint="Requests per window."
          />
          <Field
            label="Window"
            name="window"
            required
            defaultValue={policy?.window}
            placeholder="60s"
            hint="500ms, 30s, 15m, 1h or 1d."
          />
        </div>
      );
    case 'quota':
      return (
        <div className="form-grid">
          <Field
            label="Limit"
            name="limit"
            type="number"
            required
            defaultValue={policy?.limit}
            hint="Requests per period."
          />
          <Select
            label="Period"
            name="period"
            value={period}
            onChange={(event) => setPeriod(event.target.value)}
            options={[
              { value: 'day', label: 'Calendar day' },
              { value: 'month', label: 'Calendar month' },
              { value: 'rolling_24h', label: 'Rolling 24 hours' },
            ]}
          />
          {period === 'rolling_24h' ? null : (
            <>
              <Field
                label="Time zone"
                name="time_zone"
                list="policy-time-zones"
                defaultValue={policy?.time_zone ?? 'UTC'}
                hint="Days and months start at local midnight here (IANA name)."
              />
              <datalist id="policy-time-zones">
                {zones.map((zone) => (
                  <option key={zone} value={zone} />
                ))}
              </datalist>
            </>
          )}
        </div>
      );
    case 'concurrency':
      return (
        <div className="form-grid">
          <Field
            label="Limit"
            name="limit"
            type="number"
            required
            defaultValue={policy?.limit}
            hint="Requests in flight at once; a slot is freed when the response ends."
          />
        </div>
      );
  }
}

/** Add (no `policy`) or edit (`policy`, replaced whole with PUT) a policy. */
export function PolicyFormDialog({
  open,
  policy,
  onClose,
  onSaved,
}: {
  open: boolean;
  policy?: Policy;
  onClose: () => void;
  onSaved: () => void;
}) {
  return (
    <FormDialog
      open={open}
      wide
      title={policy ? `Edit policy ${policy.id}` : 'Add a policy'}
      submitLabel={policy ? 'Save policy' : 'Add policy'}
      onClose={onClose}
      onSubmit={async (form) => {
        const algorithm = (optional(form, 'algorithm') ?? 'token_bucket') as Algorithm;
        const spec = specFrom(form, algorithm);
        if (policy) await api.put('/admin/api/policies/{id}', { params: { id: policy.id }, body: spec });
        else await api.post('/admin/api/policies', { body: spec });
        onSaved();
      }}
    >
      {/* Remounted on each open (the dialog renders its body only while open). */}
      <PolicyFields policy={policy} />
    </FormDialog>
  );
}

function PolicyFields({ policy }: { policy?: Policy }) {
  const [algorithm, setAlgorithm] = useState<Algorithm>(policy?.algorithm ?? 'token_bucket');
  const [keyBy, setKeyBy] = useState<string[]>(policy?.key_by ?? ['key']);
  const toggle = (value: string, on: boolean) =>
    setKeyBy((list) => (on ? [...list, value] : list.filter((item) => item !== value)));
  return (
    <div className="policy-form">
      <div className="form-grid">
        <Field
          label="Policy ID"
          name="id"
          required
          readOnly={policy !== undefined}
          defaultValue={policy?.id}
          placeholder="per-key-100rps"
          hint={policy ? 'An id cannot change.' : 'a-z, 0-9, "_", "." or "-"'}
        />
        <Field label="Description" name="description" maxLength={500} defaultValue={policy?.description} />
        <Select
          label="Algorithm"
          name="algorithm"
          value={algorithm}
          onChange={(event) => setAlgorithm(event.target.value as Algorithm)}
          options={ALGORITHMS}
        />
      </div>
      <AlgorithmFields
        key={algorithm}
        algorithm={algorithm}
        policy={policy?.algorithm === algorithm ? policy : undefined}
      />
      <fieldset>
        <legend>Count by</legend>
        <div className="check-grid">
          {KEY_BY.map((option) => (
            <label key={option.value}>
              <input
                type="checkbox"
                name="key_by"
                value={option.value}
                checked={keyBy.includes(option.value)}
                onChange={(event) => toggle(option.value, event.target.checked)}
              />{' '}
              {option.label}
            </label>
          ))}
        </div>
        <small className="muted">
          A separate counter for each combination of these. A rotated key shares its counters with the key it
          replaced.
        </small>
      </fieldset>
      <div className="form-grid">
        {keyBy.includes('ip') ? (
          <Field
            label="IPv6 prefix"
            name="ipv6_prefix"
            type="number"
            defaultValue={policy?.ipv6_prefix ?? 64}
            hint="IPv6 addresses are counted per /N network."
          />
        ) : null}
        <Field
          label="Attach to"
          name="attach"
          defaultValue={(policy?.attach ?? (policy ? [] : ['global'])).join(', ')}
          placeholder="global, route:orders, client:mobile-app, key:key_…"
          hint="Comma-separated. The most specific level wins: key > client > route > global. Empty: attached to nothing (routes may still list it)."
        />
        <Select
          label="When Redis fails"
          name="on_store_failure"
          defaultValue={policy?.on_store_failure ?? 'local'}
          options={[
            { value: 'local', label: 'local: enforce per instance' },
            { value: 'open', label: 'open: do not enforce' },
            { value: 'closed', label: 'closed: refuse with 503' },
          ]}
        />
      </div>
      <Check
        label="Shadow mode"
        name="shadow"
        checked={policy?.shadow}
        hint="Record “would have denied”, deny nothing: roll a limit out safely."
      />
      {algorithm === 'concurrency' ? null : (
        <Check
          label="Refund on 5xx"
          name="refund_on_5xx"
          checked={policy?.refund_on_5xx}
          hint="Give the unit back when the upstream answers 5xx."
        />
      )}
    </div>
  );
}
