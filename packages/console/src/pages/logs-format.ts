/** How request records read on the Logs page: times to the millisecond, tones for statuses. */

const CLOCK = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hourCycle: 'h23',
});
const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** "14:03:22.123" today, "Nov 25 14:03:22.123" before: records come fast, milliseconds matter. */
export function logTime(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const today = at.toDateString() === now.toDateString();
  return today ? CLOCK.format(at) : `${DAY.format(at)} ${CLOCK.format(at)}`;
}

const SHORT = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});
const LONG = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** "Nov 25, 14:03:22" (the year only when it is not this one): for lists of changes. */
export function shortTime(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return (at.getFullYear() === now.getFullYear() ? SHORT : LONG).format(at);
}

export type Tone = 'ok' | 'warn' | 'bad' | 'neutral';

export function statusTone(status: number): Tone {
  if (status >= 500) return 'bad';
  if (status >= 400) return 'warn';
  if (status >= 200 && status < 300) return 'ok';
  return 'neutral';
}

export function decisionTone(decision: string): Tone {
  return decision === 'allowed'
    ? 'ok'
    : decision === 'denied'
      ? 'warn'
      : decision === 'error'
        ? 'bad'
        : 'neutral';
}

/** The API says `error`; people read "errored" next to "allowed" and "denied". */
export function decisionLabel(decision: string): string {
  return decision === 'error' ? 'errored' : decision;
}

export function latency(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : String(Math.round(ms));
}
