// The dashboard's formatting (Sources/FootfallHTTP/Static/app/format.js), run by `node --test` in
// `make test`: what every number, duration and dimension value reads like on screen.
import assert from "node:assert/strict";
import { test } from "node:test";

import { clickLabel, countryName, displayValue, fmtAgo, fmtDuration, fmtNumber, fmtPercent } from "../../Sources/FootfallHTTP/Static/app/format.js";

test("numbers under a thousand are whole; larger ones are shortened to k, M, B", () => {
  assert.equal(fmtNumber(0), "0");
  assert.equal(fmtNumber(999.4), "999");
  assert.equal(fmtNumber(1000), "1k");
  assert.equal(fmtNumber(1540), "1.5k");
  assert.equal(fmtNumber(12_345), "12k");
  assert.equal(fmtNumber(2_000_000), "2M");
  assert.equal(fmtNumber(3_450_000_000), "3.5B");
  assert.equal(fmtNumber(-2500), "-2.5k");
});

test("what is not a number reads as 0, not NaN", () => {
  assert.equal(fmtNumber(undefined), "0");
  assert.equal(fmtNumber("abc"), "0");
  assert.equal(fmtDuration(null), "0s");
  assert.equal(fmtPercent(undefined), "0%");
});

test("durations read in seconds, minutes and seconds, or hours and minutes", () => {
  assert.equal(fmtDuration(42.4), "42s");
  assert.equal(fmtDuration(60), "1m 0s");
  assert.equal(fmtDuration(125), "2m 5s");
  assert.equal(fmtDuration(3600 * 2 + 60 * 3 + 59), "2h 3m");
});

test("a fraction reads as a whole percentage", () => {
  assert.equal(fmtPercent(0.5), "50%");
  assert.equal(fmtPercent(0.126), "13%");
  assert.equal(fmtPercent(1), "100%");
});

test("times ago round down to the largest whole unit, and the future is now", () => {
  const now = 1_800_000_000_000;
  assert.equal(fmtAgo(now + 5000, now), "just now");
  assert.equal(fmtAgo(now - 4000, now), "just now");
  assert.equal(fmtAgo(now - 59_000, now), "59s ago");
  assert.equal(fmtAgo(now - 61_000, now), "1m ago");
  assert.equal(fmtAgo(now - 7_200_000, now), "2h ago");
  assert.equal(fmtAgo(now - 3 * 86_400_000, now), "3d ago");
});

test("countries read by name; an unknown or empty code stays readable", () => {
  assert.equal(countryName("de"), "Germany");
  assert.equal(countryName("US"), "United States");
  assert.equal(countryName(""), "Unknown");
  assert.equal(countryName("not a code"), "not a code");
});

test("each dimension's raw value reads as a person would say it", () => {
  assert.equal(displayValue("country", "fr"), "France");
  assert.equal(displayValue("device", "mobile"), "Mobile");
  assert.equal(displayValue("device", ""), "Unknown");
  assert.equal(displayValue("referrer", ""), "Direct / none");
  assert.equal(displayValue("referrer", "t.co"), "t.co");
  assert.equal(displayValue("page", ""), "(none)");
  assert.equal(displayValue("page", "/pricing"), "/pricing");
});

test("a click's value is kind:target, and the target may hold colons", () => {
  assert.equal(displayValue("click", "outbound:https://example.org/a:b"), "Outbound link to https://example.org/a:b");
  assert.equal(displayValue("click", "button:Sign up"), "Button “Sign up”");
  assert.equal(clickLabel("outbound", "https://x.example"), "Outbound link to https://x.example");
});
