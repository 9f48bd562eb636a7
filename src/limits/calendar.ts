/**
 * Calendar windows for `day` and `month` quotas: a day starts at local midnight in the
 * configured IANA time zone and a month on the 1st, so a day is 23, 24 or 25 hours long
 * across DST changes (and a month has the hours it really has). Redis's Lua has no time zone
 * data, so boundaries are found here with `Intl.DateTimeFormat` and handed to the script.
 *
 * A window is [first instant whose local date is D or later, same for the next D). Where a
 * DST change skips midnight (America/Santiago in September goes 23:59:59 → 01:00), the day
 * starts at 01:00, the first instant it exists.
 */

export type CalendarPeriod = 'day' | 'month';

export interface CalendarWindow {
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
}

const HOUR_MS = 3_600_000;
/** UTC offsets span −12 h to +14 h, so local midnight is within ±2 days of the nominal UTC one. */
const SEARCH_SPAN_MS = 48 * HOUR_MS;
/** Windows remembered per zone and period: the current one and its neighbours (Redis asks for all three). */
const CACHED_WINDOWS = 4;

const formatters = new Map<string, Intl.DateTimeFormat>();
const windows = new Map<string, CalendarWindow[]>();

/**
 * The zone's canonical name, or a RangeError naming `field`. Validate once when a limit is
 * compiled, so a typo fails at configuration time, not on the first request.
 */
export function checkTimeZone(timeZone: unknown, field: string): string {
  if (typeof timeZone !== 'string' || timeZone === '') {
    throw new TypeError(`${field} must be an IANA time zone name such as "Europe/Berlin"`);
  }
  try {
    return formatterFor(timeZone).resolvedOptions().timeZone;
  } catch {
    throw new RangeError(`${field} is not a known IANA time zone (got "${timeZone}")`);
  }
}

/** The calendar window that contains `nowMs`. Cached: the request path normally does one Map lookup. */
export function calendarWindow(nowMs: number, period: CalendarPeriod, timeZone: string): CalendarWindow {
  const cacheKey = `${period}|${timeZone}`;
  let cached = windows.get(cacheKey);
  if (cached === undefined) {
    cached = [];
    windows.set(cacheKey, cached);
  }
  for (const window of cached) {
    if (window.start <= nowMs && nowMs < window.end) return window;
  }
  const window = computeWindow(nowMs, period, timeZone);
  cached.unshift(window);
  if (cached.length > CACHED_WINDOWS) cached.pop();
  return window;
}

/**
 * [previous start, start, end, next end] around `nowMs`: the Redis script picks the window
 * that contains the Redis server's time, which may sit on the other side of a boundary from
 * this instance's clock.
 */
export function calendarBounds(
  nowMs: number,
  period: CalendarPeriod,
  timeZone: string,
): [number, number, number, number] {
  const current = calendarWindow(nowMs, period, timeZone);
  const previous = calendarWindow(current.start - 1, period, timeZone);
  const next = calendarWindow(current.end, period, timeZone);
  return [previous.start, current.start, current.end, next.end];
}

function computeWindow(nowMs: number, period: CalendarPeriod, timeZone: string): CalendarWindow {
  const local = wallClock(nowMs, timeZone);
  const [start, end] =
    period === 'day'
      ? [
          startOfLocalDate(local.year, local.month, local.day, timeZone),
          startOfLocalDate(local.year, local.month, local.day + 1, timeZone),
        ]
      : [
          startOfLocalDate(local.year, local.month, 1, timeZone),
          startOfLocalDate(local.year, local.month + 1, 1, timeZone),
        ];
  // Local dates only move forward in every zone in the tz database (clocks that fall back
  // at midnight go 24:00 → 23:00 of the same date), so `nowMs` lies inside. The clamp keeps
  // the window well-formed should a zone ever break that.
  return { start: Math.min(start, nowMs), end: Math.max(end, nowMs + 1) };
}

/**
 * The first instant whose local date is year-month-day or later (month and day may overflow,
 * as in Date.UTC). Fast path: midnight as UTC shifted by the zone's offset, refined once
 * (the offset at the guess may differ from the offset at midnight). Verified, and found by
 * binary search over the monotone "local date ≥ target" when midnight does not exist.
 */
function startOfLocalDate(year: number, month: number, day: number, timeZone: string): number {
  const nominal = Date.UTC(year, month - 1, day);
  const normalized = new Date(nominal);
  const target = dateKey(normalized.getUTCFullYear(), normalized.getUTCMonth() + 1, normalized.getUTCDate());
  const reached = (t: number): boolean => {
    const local = wallClock(t, timeZone);
    return dateKey(local.year, local.month, local.day) >= target;
  };
  let guess = nominal - offsetAt(nominal, timeZone);
  guess = nominal - offsetAt(guess, timeZone);
  if (reached(guess) && !reached(guess - 1)) return guess;
  let before = nominal - SEARCH_SPAN_MS;
  let after = nominal + SEARCH_SPAN_MS;
  while (after - before > 1) {
    const mid = Math.floor((before + after) / 2);
    if (reached(mid)) after = mid;
    else before = mid;
  }
  return after;
}

/** Local wall-clock time minus UTC at instant `t`, in ms (whole seconds: Intl shows no ms). */
function offsetAt(t: number, timeZone: string): number {
  const local = wallClock(t, timeZone);
  const wallAsUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  return wallAsUtc - Math.floor(t / 1000) * 1000;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClock(t: number, timeZone: string): WallClock {
  const out: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(t)) {
    switch (part.type) {
      case 'year':
      case 'month':
      case 'day':
      case 'hour':
      case 'minute':
      case 'second':
        out[part.type] = Number(part.value);
        break;
      default:
        break;
    }
  }
  return out;
}

function dateKey(year: number, month: number, day: number): number {
  return year * 10_000 + month * 100 + day;
}

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // en-US with numeric parts and h23: digits we can parse, and no "24" hour at midnight.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}
