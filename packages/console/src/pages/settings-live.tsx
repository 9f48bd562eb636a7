/**
 * Live runtime settings: the few settings that change without a restart. A saved value is an
 * override stored in the database and picked up by every instance; "Reset to configured"
 * removes it so the value from the file, environment or flags applies again.
 */
import { type FormEvent, useId, useState } from 'react';
import { useNotify } from '../components/notify';
import { Badge, Loaded } from '../components/states';
import { api, errorMessage, type Schemas } from '../lib/api';
import { useSession } from '../lib/session';
import { useApi } from '../lib/use-api';

type LiveSetting = Schemas['LiveSetting'];

interface Known {
  name: string;
  /** Choices, when the setting is one of a few words. */
  choices?: readonly string[];
  number?: { min: number; max?: number; step: number };
}

const KNOWN: Record<string, Known> = {
  failsafe: { name: 'Failsafe', choices: ['closed', 'open'] },
  interceptAlertThreshold: { name: 'Intercept alert threshold', number: { min: 0, step: 1 } },
  interceptAlertWindowS: { name: 'Intercept alert window (seconds)', number: { min: 1, step: 1 } },
  accessLogSample: { name: 'Access log sample', number: { min: 0, max: 1, step: 0.01 } },
  anomalyDetection: { name: 'Anomaly detection', choices: ['on', 'shadow', 'off'] },
};

function describe(key: string): Known {
  return KNOWN[key] ?? { name: key.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase()) };
}

/** The name in the config file and environment: interceptAlertWindowS → intercept_alert_window_s. */
function snake(key: string): string {
  return key.replace(/([A-Z])/g, '_$1').toLowerCase();
}

function SettingRow({ setting, onChanged }: { setting: LiveSetting; onChanged: () => void }) {
  const { canWrite } = useSession();
  const { notify } = useNotify();
  const known = describe(setting.key);
  const [value, setValue] = useState(String(setting.value));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const live = setting.source === 'live';

  const save = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.patch('/admin/api/settings', { body: { [setting.key]: value } });
      notify('ok', `${known.name} is now ${value} on every instance`);
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const reset = async () => {
    if (!window.confirm(`Reset ${known.name} to its configured value (${setting.configured})?`)) return;
    setBusy(true);
    setError(null);
    try {
      await api.delete('/admin/api/settings/{key}', { params: { key: setting.key } });
      setValue(String(setting.configured));
      notify('ok', `${known.name} is back to its configured value`);
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section
      className={canWrite ? 'setting' : 'setting read-only'}
      aria-labelledby={`${id}-name`}
      data-testid={`setting-${setting.key}`}
    >
      <div className="setting-about">
        <h3 id={`${id}-name`}>{known.name}</h3>
        <p className="muted">{setting.description}</p>
        <p className="setting-value">
          <span>
            Current value: <strong>{String(setting.value)}</strong>
          </span>{' '}
          {live ? <Badge tone="warn">overridden live</Badge> : <Badge>from configuration</Badge>}
          {live ? <span className="muted"> (configured: {String(setting.configured)})</span> : null}
          <br />
          <span className="muted small">
            Config key <code>{snake(setting.key)}</code>, environment{' '}
            <code>PORTCULLIS_{snake(setting.key).toUpperCase()}</code>
          </span>
        </p>
      </div>
      {canWrite ? (
        <form className="setting-edit" onSubmit={save}>
          <label htmlFor={`${id}-input`}>
            New value<span className="visually-hidden"> for {known.name}</span>
          </label>
          {known.choices ? (
            <select id={`${id}-input`} value={value} onChange={(event) => setValue(event.target.value)}>
              {[...new Set([...known.choices, String(setting.value)])].map((choice) => (
                <option key={choice} value={choice}>
                  {choice}
                </option>
              ))}
            </select>
          ) : (
            <input
              id={`${id}-input`}
              value={value}
              onChange={(event) => setValue(event.target.value)}
              inputMode={known.number ? 'decimal' : undefined}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? `${id}-error` : undefined}
            />
          )}
          <div className="setting-buttons">
            <button type="submit" disabled={busy || value === String(setting.value)} aria-busy={busy}>
              Save<span className="visually-hidden"> {known.name}</span>
            </button>
            {live ? (
              <button
                type="button"
                className="secondary outline"
                onClick={() => void reset()}
                disabled={busy}
              >
                Reset to configured<span className="visually-hidden"> ({known.name})</span>
              </button>
            ) : null}
          </div>
          {error ? (
            <p className="form-error" role="alert" id={`${id}-error`}>
              {error}
            </p>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}

export function LiveSettings() {
  const { canWrite } = useSession();
  const settings = useApi((signal) => api.get('/admin/api/settings', { signal }), []);
  return (
    <>
      <p className="notice-inline">
        <strong>These apply to every instance without a restart.</strong> A saved value overrides the
        configured one (file, environment or flags) on all gateways sharing this database within about a
        second, and stays until you reset it.
        {canWrite ? null : ' You can see the values; only admins can change them.'}
      </p>
      <Loaded
        state={settings}
        empty={{
          when: (data) => data.items.length === 0,
          title: 'No live settings',
          hint: 'This version has none.',
        }}
      >
        {(data) => (
          <div className="settings-list">
            {data.items.map((setting) => (
              // Keyed by value and source too: a change elsewhere resets the row's input.
              <SettingRow
                key={`${setting.key}:${setting.value}:${setting.source}`}
                setting={setting}
                onChanged={settings.reload}
              />
            ))}
          </div>
        )}
      </Loaded>
    </>
  );
}
