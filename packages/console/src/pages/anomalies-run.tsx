/**
 * "Run detection now" (admins): judges the interval in progress on the gateway that answers.
 * The outcome stays on the page until the next run, including the plain reason when detection
 * is off (409): a notice that vanishes after a few seconds is easy to miss.
 */
import { useState } from 'react';
import { api, errorMessage } from '../lib/api';
import { formatTime } from '../lib/format';

export interface RunOutcome {
  ok: boolean;
  text: string;
  /** The first few findings' explanations. */
  findings: string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

async function runNow(): Promise<RunOutcome> {
  try {
    const result = await api.post('/admin/api/anomalies/run', { body: {} });
    const seconds = Math.round(result.intervalMs / 1000);
    const folded = result.findings.length > result.anomalies.length;
    return {
      ok: true,
      text:
        `Detection ran on the interval from ${formatTime(result.bucketStart)} (${seconds} s, still in progress): ` +
        `${plural(result.identities, 'identity', 'identities')} checked, ${plural(result.findings.length, 'finding')}, ` +
        `${plural(result.anomalies.length, 'new anomaly', 'new anomalies')}` +
        (folded ? ' (the other findings were added to incidents already open).' : '.'),
      findings: result.findings.slice(0, 5).map((f) => f.explanation),
    };
  } catch (error) {
    return { ok: false, text: errorMessage(error), findings: [] };
  }
}

export function RunDetectionButton({ onOutcome }: { onOutcome: (outcome: RunOutcome) => void }) {
  const [running, setRunning] = useState(false);
  return (
    <button
      type="button"
      className="secondary"
      aria-busy={running}
      disabled={running}
      onClick={async () => {
        setRunning(true);
        onOutcome(await runNow());
        setRunning(false);
      }}
    >
      Run detection now
    </button>
  );
}

export function RunOutcomeNotice({ outcome, onDismiss }: { outcome: RunOutcome; onDismiss: () => void }) {
  return (
    <div className={outcome.ok ? 'notice-inline anomaly-run' : 'notice-inline anomaly-run bad'} role="status">
      <p>
        {outcome.ok ? null : <strong>Detection did not run: </strong>}
        {outcome.text}
      </p>
      {outcome.findings.length > 0 ? (
        <ul>
          {outcome.findings.map((text) => (
            <li key={text}>{text}</li>
          ))}
        </ul>
      ) : null}
      <button type="button" className="secondary outline" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
