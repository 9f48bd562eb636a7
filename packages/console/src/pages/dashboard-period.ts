/** The windows the dashboard shows (the API takes up to 24h); the address keeps the choice. */
export const PERIODS = [
  { value: '15m', label: 'Last 15 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '24h', label: 'Last 24 hours' },
] as const;

export type Period = (typeof PERIODS)[number]['value'];

export const DEFAULT_PERIOD: Period = '1h';

export function periodOf(value: string | null): Period {
  return PERIODS.find((p) => p.value === value)?.value ?? DEFAULT_PERIOD;
}
