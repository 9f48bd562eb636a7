import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { calendarBounds, calendarWindow, checkTimeZone } from '../../src/limits/calendar.js';

const HOUR = 3_600_000;
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/Santiago',
  'America/Havana',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'Pacific/Apia',
  'Africa/Casablanca',
];

function labelOf(timeZone: string, period: 'day' | 'month'): (t: number) => string {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    ...(period === 'day' ? { day: '2-digit' } : {}),
  });
  return (t) => format.format(t);
}

describe('calendar windows', () => {
  test('known boundaries across DST changes', () => {
    const at = (iso: string) => Date.parse(iso);
    const cases: Array<[string, string, 'day' | 'month', string, string]> = [
      ['Europe/Berlin', '2026-03-29T12:00:00Z', 'day', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'],
      ['Europe/Berlin', '2026-10-25T12:00:00Z', 'day', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'],
      ['Europe/Berlin', '2026-03-15T12:00:00Z', 'month', '2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z'],
      ['America/New_York', '2026-03-08T12:00:00Z', 'day', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'],
      ['America/Santiago', '2026-09-06T12:00:00Z', 'day', '2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z'],
      ['Asia/Kolkata', '2026-01-31T20:00:00Z', 'month', '2026-01-31T18:30:00Z', '2026-02-28T18:30:00Z'],
      ['UTC', '2026-12-31T23:59:59.999Z', 'month', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ];
    for (const [zone, now, period, start, end] of cases) {
      assert.deepEqual(
        calendarWindow(at(now), period, zone),
        { start: at(start), end: at(end) },
        `${zone} ${now}`,
      );
    }
  });

  test('every window starts at the first instant of its local date and ends at the next one', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom('day' as const, 'month' as const),
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
        (zone, period, now) => {
          const label = labelOf(zone, period);
          const { start, end } = calendarWindow(now, period, zone);
          assert.ok(start <= now && now < end);
          assert.equal(label(start), label(now));
          assert.notEqual(label(start - 1), label(now));
          assert.equal(label(end - 1), label(now));
          assert.notEqual(label(end), label(now));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test('bounds give the neighbouring windows too (for the Redis script)', () => {
    const now = Date.parse('2026-03-29T12:00:00Z');
    const [previous, start, end, next] = calendarBounds(now, 'day', 'Europe/Berlin');
    assert.equal(start - previous, 24 * HOUR);
    assert.equal(end - start, 23 * HOUR);
    assert.equal(next - end, 24 * HOUR);
  });

  test('time zones are validated and canonicalized', () => {
    assert.equal(checkTimeZone('europe/berlin', 'limit.timeZone'), 'Europe/Berlin');
    assert.throws(
      () => checkTimeZone('Mars/Olympus', 'limit.timeZone'),
      /limit\.timeZone is not a known IANA time zone/,
    );
    assert.throws(
      () => checkTimeZone('', 'limit.timeZone'),
      /limit\.timeZone must be an IANA time zone name/,
    );
  });
});
