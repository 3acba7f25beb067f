/**
 * Advanced sync schedules (issue #6): `nextRunAt` places syncs at the named hours in
 * an IANA time zone (fixed `now` values, DST changes included), `syncTiming` picks a
 * schedule or an interval, the stored schedule reaches the loader's settings, and a
 * ScheduledSync fires at the computed time (a fake clock, a short real wait).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduledSync, nextRunAt, syncTiming, type SyncClock, type SyncSchedule } from '../src/storage/scheduled-sync.js';
import { apiWarehouseConfigs, loaderSchedule } from '../src/config/warehouse-settings.js';
import type { StoredWarehouse } from '../src/store/types.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const next = (s: SyncSchedule, now: string) => iso(nextRunAt(s, at(now)));
const NY = (...hours: number[]): SyncSchedule => ({ timezone: 'America/New_York', hours });

test('nextRunAt: the next named hour today, or the first one tomorrow', () => {
  const utc: SyncSchedule = { timezone: 'UTC', hours: [18, 6] };
  assert.equal(next(utc, '2026-05-10T07:00:00.000Z'), '2026-05-10T18:00:00.000Z');
  assert.equal(next(utc, '2026-05-10T05:59:59.999Z'), '2026-05-10T06:00:00.000Z');
  // Strictly after now: at a named hour, the next one.
  assert.equal(next(utc, '2026-05-10T06:00:00.000Z'), '2026-05-10T18:00:00.000Z');
  // Every named hour is earlier than now: tomorrow's first.
  assert.equal(next(utc, '2026-05-10T19:00:00.000Z'), '2026-05-11T06:00:00.000Z');
  assert.equal(next(utc, '2026-12-31T23:30:00.000Z'), '2027-01-01T06:00:00.000Z');
  // New York in summer (EDT, UTC-4): 9:00 has passed at 11:00, so tomorrow's.
  assert.equal(next(NY(9), '2026-06-01T15:00:00.000Z'), '2026-06-02T13:00:00.000Z');
  assert.equal(next(NY(9, 23), '2026-06-01T15:00:00.000Z'), '2026-06-02T03:00:00.000Z');
  // Local date ahead of UTC's: Auckland (NZDT, UTC+13) is already on Jan 1, 13:00.
  assert.equal(next({ timezone: 'Pacific/Auckland', hours: [9] }, '2026-01-01T00:00:00.000Z'), '2026-01-01T20:00:00.000Z');
  // Offsets that are not whole hours.
  assert.equal(next({ timezone: 'Asia/Kolkata', hours: [0] }, '2026-04-01T12:00:00.000Z'), '2026-04-01T18:30:00.000Z');
  assert.equal(next({ timezone: 'Asia/Kathmandu', hours: [6] }, '2026-04-01T00:00:00.000Z'), '2026-04-01T00:15:00.000Z');
  // Every hour: at most 24 a day, on the hour.
  const all: SyncSchedule = { timezone: 'Europe/Paris', hours: Array.from({ length: 24 }, (_, h) => h) };
  assert.equal(next(all, '2026-07-01T10:20:00.000Z'), '2026-07-01T11:00:00.000Z');
});

test('nextRunAt: clocks going forward (America/New_York, 2026-03-08)', () => {
  // 2:00 EST becomes 3:00 EDT: 2:00 does not happen; it runs when the clocks jump, as cron does.
  const s = NY(1, 2, 3);
  assert.equal(next(s, '2026-03-08T05:00:00.000Z'), '2026-03-08T06:00:00.000Z'); // 1:00 EST
  assert.equal(next(s, '2026-03-08T06:00:00.000Z'), '2026-03-08T07:00:00.000Z'); // "2:00" = 3:00 EDT
  assert.equal(next(s, '2026-03-08T07:00:00.000Z'), '2026-03-09T05:00:00.000Z'); // 3:00 EDT ran with it; next 1:00 EDT
  // Noon stays noon on the wall clock: 17:00Z before the change, 16:00Z after (a 23-hour day).
  assert.equal(next(NY(12), '2026-03-07T12:00:00.000Z'), '2026-03-07T17:00:00.000Z');
  assert.equal(next(NY(12), '2026-03-07T17:00:00.000Z'), '2026-03-08T16:00:00.000Z');
  // Europe/Paris: 2:00 CET becomes 3:00 CEST on 2026-03-29.
  assert.equal(next({ timezone: 'Europe/Paris', hours: [2] }, '2026-03-28T12:00:00.000Z'), '2026-03-29T01:00:00.000Z');
  assert.equal(next({ timezone: 'Europe/Paris', hours: [2] }, '2026-03-29T01:00:00.000Z'), '2026-03-30T00:00:00.000Z');
});

test('nextRunAt: clocks going back (America/New_York, 2026-11-01)', () => {
  // 1:00 happens twice (EDT, then EST): it runs once, at the first.
  const s = NY(1);
  assert.equal(next(s, '2026-11-01T04:30:00.000Z'), '2026-11-01T05:00:00.000Z'); // 1:00 EDT
  assert.equal(next(s, '2026-11-01T05:00:00.000Z'), '2026-11-02T06:00:00.000Z'); // not 1:00 EST the same day
  assert.equal(next(s, '2026-11-01T05:30:00.000Z'), '2026-11-02T06:00:00.000Z');
  // The hours after the change: 2:00 EST is 07:00Z (a 25-hour day).
  assert.equal(next(NY(0, 2), '2026-11-01T05:00:00.000Z'), '2026-11-01T07:00:00.000Z');
  assert.equal(next(NY(12), '2026-10-31T17:00:00.000Z'), '2026-11-01T17:00:00.000Z');
});

test('nextRunAt: no hours means no scheduled syncs; bad schedules throw', () => {
  assert.equal(nextRunAt({ timezone: 'UTC', hours: [] }, at('2026-05-10T07:00:00.000Z')), Infinity);
  assert.throws(() => nextRunAt({ timezone: 'Mars/Olympus', hours: [1] }, 0), RangeError);
  assert.throws(() => nextRunAt({ timezone: 'UTC', hours: [24] }, 0), RangeError);
  assert.throws(() => nextRunAt({ timezone: 'UTC', hours: [1.5] }, 0), RangeError);
});

test('syncTiming: a schedule, unless the interval asks faster than hourly', () => {
  const schedule = NY(6);
  assert.equal(syncTiming({}, 60), 60_000);
  assert.equal(syncTiming({ syncIntervalSeconds: 600 }, 60), 600_000);
  assert.deepEqual(syncTiming({ schedule }, 60), schedule);
  assert.deepEqual(syncTiming({ schedule, syncIntervalSeconds: 7200 }, 60), schedule);
  assert.deepEqual(syncTiming({ schedule, syncIntervalSeconds: 3600 }, 60), schedule);
  assert.equal(syncTiming({ schedule, syncIntervalSeconds: 300 }, 60), 300_000);
});

test('a stored schedule reaches the loader thread (and the export) as hours in a time zone', () => {
  const w: StoredWarehouse = {
    id: 'wh', workspaceId: 'ws', name: 'W', type: 'duckdb', enabled: true, sourceIds: ['s1'],
    settings: { path: 'w.duckdb', syncIntervalSeconds: 7200 }, syncOverrides: [], origin: 'api',
    schedule: { enabled: true, timezone: 'Europe/Paris', times: [{ hourOfDay: 12, enabled: true }, { hourOfDay: 0, enabled: true }, { hourOfDay: 6, enabled: false }] },
  };
  assert.deepEqual(loaderSchedule(w.schedule), { timezone: 'Europe/Paris', hours: [0, 12] });
  assert.deepEqual(apiWarehouseConfigs([w], (id) => id)[0]!.settings, {
    path: 'w.duckdb', syncIntervalSeconds: 7200, schedule: { timezone: 'Europe/Paris', hours: [0, 12] },
  });
  // Disabled, absent or no longer valid: no schedule, the interval applies.
  assert.equal(loaderSchedule({ ...w.schedule!, enabled: false }), undefined);
  assert.equal(loaderSchedule(null), undefined);
  assert.equal(loaderSchedule({ ...w.schedule!, timezone: 'Mars/Olympus' }), undefined);
  assert.deepEqual(apiWarehouseConfigs([{ ...w, schedule: null }], (id) => id)[0]!.settings, { path: 'w.duckdb', syncIntervalSeconds: 7200 });
});

class Counting extends ScheduledSync {
  runs: number[] = [];
  constructor(private readonly clock: SyncClock) { super(); }
  protected async run(): Promise<void> { this.runs.push(this.clock.now()); }
  stop(): Promise<void> { return this.stopSchedule(); }
}

/** The system's timers, on a clock that reads `start` when created and advances in real time; records each wait. */
function fakeClock(start: string) {
  const offset = at(start) - Date.now();
  const waits: number[] = [];
  const clock: SyncClock = {
    now: () => Date.now() + offset,
    setTimeout: (fn, ms) => { waits.push(ms); return setTimeout(fn, ms); },
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  };
  return { clock, waits };
}

test('ScheduledSync fires at the computed time, then waits for the next hour; syncNow still works', async () => {
  // 1:59:59.850 EST on 2026-03-08 in New York: the 2:00 sync is due when the clocks jump, 150 ms later.
  const { clock, waits } = fakeClock('2026-03-08T06:59:59.850Z');
  const sync = new Counting(clock);
  sync.start(NY(2), clock);
  assert.equal(sync.runs.length, 0);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sync.runs.length, 0, 'not before its time');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sync.runs.length, 1);
  assert.ok(sync.runs[0]! >= at('2026-03-08T07:00:00.000Z') && sync.runs[0]! < at('2026-03-08T07:00:01.000Z'), iso(sync.runs[0]!));
  // Then the next day's 2:00 EDT (06:00Z), waited for in steps of at most an hour.
  assert.equal(waits.at(-1), 3_600_000);
  await sync.syncNow();
  assert.equal(sync.runs.length, 2, 'on demand');
  await sync.stop();
  assert.equal(sync.runs.length, 2);
});

test('ScheduledSync: a schedule without hours syncs only on demand; an interval still ticks', async () => {
  const { clock, waits } = fakeClock('2026-03-08T06:59:59.850Z');
  const none = new Counting(clock);
  none.start({ timezone: 'UTC', hours: [] }, clock);
  assert.deepEqual(waits, [], 'no timer');
  await none.syncNow();
  assert.equal(none.runs.length, 1);
  await none.stop();
  assert.throws(() => none.start({ timezone: 'Mars/Olympus', hours: [1] }, clock), RangeError);

  const every = new Counting(clock);
  every.start(40, clock);
  await new Promise((r) => setTimeout(r, 150));
  await every.stop();
  const n = every.runs.length;
  assert.ok(n >= 2 && n <= 4, `ran ${n} times`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(every.runs.length, n, 'stopped');
});
