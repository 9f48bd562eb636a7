/**
 * Quotas are the window algorithms over longer periods:
 * - `rolling_24h`: the sliding-window estimate (./sliding-window.ts) with W = 24 h, so the
 *   quota frees up gradually instead of all at once at a boundary;
 * - `day` / `month`: a fixed-window counter (./fixed-window.ts) over calendar windows that
 *   start at local midnight / on the 1st in the quota's time zone (../calendar.ts).
 */
import { type CalendarPeriod, calendarWindow } from '../calendar.js';
import type { WindowBounds } from './fixed-window.js';

export const ROLLING_24H_MS = 86_400_000;

export function quotaWindow(nowMs: number, period: CalendarPeriod, timeZone: string): WindowBounds {
  return calendarWindow(nowMs, period, timeZone);
}
