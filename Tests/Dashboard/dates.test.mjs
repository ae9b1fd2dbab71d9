// The dashboard's report periods (Sources/FootfallHTTP/Static/app/dates.js), run by `node --test`
// in `make test`: local dates of the site's zone, presets, and the period before for comparison.
import assert from "node:assert/strict";
import { test } from "node:test";

import { addDays, daysBetween, periodFrom, PRESETS, todayIn, validYMD } from "../../Sources/FootfallHTTP/Static/app/dates.js";

const query = (text) => new URLSearchParams(text);
// 2026-03-01 02:30 UTC: still February 28 in New York, already March 1 in Tokyo.
const earlyMarch = new Date(Date.UTC(2026, 2, 1, 2, 30));

test("today is the date in the site's zone, not the browser's or UTC's", () => {
  assert.equal(todayIn("UTC", earlyMarch), "2026-03-01");
  assert.equal(todayIn("America/New_York", earlyMarch), "2026-02-28");
  assert.equal(todayIn("Asia/Tokyo", earlyMarch), "2026-03-01");
  assert.equal(todayIn("Asia/Kathmandu", new Date(Date.UTC(2026, 0, 1, 18, 14))), "2026-01-01");
  assert.equal(todayIn("Asia/Kathmandu", new Date(Date.UTC(2026, 0, 1, 18, 15))), "2026-01-02");
});

test("days add across month ends, leap days and years", () => {
  assert.equal(addDays("2024-02-28", 1), "2024-02-29");
  assert.equal(addDays("2026-02-28", 1), "2026-03-01");
  assert.equal(addDays("2026-01-01", -1), "2025-12-31");
  assert.equal(daysBetween("2026-03-01", "2026-03-01"), 1);
  assert.equal(daysBetween("2026-03-01", "2026-03-31"), 31);
  // A DST change (Europe moves on 2026-03-29) changes no count: dates are counted, not hours.
  assert.equal(daysBetween("2026-03-28", "2026-03-30"), 3);
});

test("only YYYY-MM-DD dates that exist are valid", () => {
  assert.ok(validYMD("2026-12-03"));
  for (const text of ["", null, "2026-1-3", "2026-12-03T00:00", "03-12-2026", "2026-13-01", "2026-02-29", "2026-04-31", "abcd-ef-gh"]) {
    assert.ok(!validYMD(text), String(text));
  }
});

test("a route without a valid period shows the last 30 days, compared with the 30 before", () => {
  for (const text of ["", "from=2026-03-05&to=2026-03-01", "from=nonsense&to=2026-03-01", "from=2026-02-01"]) {
    const period = periodFrom(query(text), "UTC", earlyMarch);
    assert.deepEqual([period.from, period.to, period.length], ["2026-01-31", "2026-03-01", 30], text);
    assert.deepEqual(period.previous, { from: "2026-01-01", to: "2026-01-30" }, text);
    assert.equal(period.preset.id, "30d", text);
    assert.equal(period.interval, "day", text);
  }
});

test("a single day is charted by the hour, and matches its preset", () => {
  const period = periodFrom(query("from=2026-02-28&to=2026-02-28"), "America/New_York", earlyMarch);
  assert.equal(period.interval, "hour");
  assert.equal(period.preset.id, "today");
  assert.deepEqual(period.previous, { from: "2026-02-27", to: "2026-02-27" });
});

test("a chosen range keeps its length for the comparison and matches no preset", () => {
  const period = periodFrom(query("from=2026-02-10&to=2026-02-16"), "UTC", earlyMarch);
  assert.equal(period.length, 7);
  assert.deepEqual(period.previous, { from: "2026-02-03", to: "2026-02-09" });
  assert.equal(period.preset, undefined);
});

test("presets cover what they name", () => {
  const range = (id, today) => PRESETS.find((p) => p.id === id).range(today);
  assert.deepEqual(range("yesterday", "2026-03-01"), ["2026-02-28", "2026-02-28"]);
  assert.deepEqual(range("7d", "2026-03-01"), ["2026-02-23", "2026-03-01"]);
  assert.deepEqual(range("month", "2026-03-15"), ["2026-03-01", "2026-03-15"]);
  assert.deepEqual(range("last-month", "2026-03-15"), ["2026-02-01", "2026-02-28"]);
  assert.deepEqual(range("last-month", "2026-01-10"), ["2025-12-01", "2025-12-31"]);
  assert.equal(daysBetween(...range("12mo", "2026-03-01")), 365);
});
