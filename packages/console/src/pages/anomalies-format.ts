/** Words for the detector's vocabulary, shared by the anomalies page and the dashboard. */
import type { Schemas } from '../lib/api';

type Anomaly = Schemas['Anomaly'];

export const SIGNALS: Record<Anomaly['signal'], string> = {
  burst: 'Burst',
  auth_failures: 'Auth failures',
  error_rate: 'Error rate',
  key_sharing: 'Key sharing',
  rate_limited: 'Rate limited',
};

export const ACTIONS: Record<Anomaly['action'], { label: string; tone: 'ok' | 'warn' | 'bad' | 'neutral' }> =
  {
    recorded: { label: 'recorded', tone: 'neutral' },
    shadow: { label: 'shadow (nothing done)', tone: 'neutral' },
    alerted: { label: 'alerted', tone: 'warn' },
    blocked: { label: 'blocked', tone: 'bad' },
  };

/** "key key_abc", "ip 2001:db8::/64": what the identity is, then which. */
export function identityLabel(a: Pick<Anomaly, 'identityKind' | 'identity'>): string {
  return `${a.identityKind} ${a.identity}`;
}

/** The score in standard deviations, e.g. "9.5 σ". */
export function formatScore(score: number): string {
  return `${score >= 100 ? Math.round(score) : score.toFixed(1)} σ`;
}
