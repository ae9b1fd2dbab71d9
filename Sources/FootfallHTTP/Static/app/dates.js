/* Report periods as local dates of the site's zone ("YYYY-MM-DD"): presets, the period a route
 * asks for, and the one before it. Pure functions, unit-tested by Tests/Dashboard. */

/** The local date ("YYYY-MM-DD") in `timeZone` at `now`. */
export function todayIn(timeZone, now = new Date()) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

const dayMs = 86400000;
const ymdToUTC = (ymd) => Date.UTC(+ymd.slice(0, 4), +ymd.slice(5, 7) - 1, +ymd.slice(8, 10));
export const addDays = (ymd, n) => new Date(ymdToUTC(ymd) + n * dayMs).toISOString().slice(0, 10);
export const daysBetween = (from, to) => Math.round((ymdToUTC(to) - ymdToUTC(from)) / dayMs) + 1;
/** A date that exists: "2026-02-30" or "2026-13-01" would roll over into another date. */
export const validYMD = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || "") && addDays(text, 0) === text;

export const PRESETS = [
  { id: "today", label: "Today", range: (t) => [t, t] },
  { id: "yesterday", label: "Yesterday", range: (t) => [addDays(t, -1), addDays(t, -1)] },
  { id: "7d", label: "Last 7 days", range: (t) => [addDays(t, -6), t] },
  { id: "30d", label: "Last 30 days", range: (t) => [addDays(t, -29), t] },
  { id: "month", label: "This month", range: (t) => [t.slice(0, 8) + "01", t] },
  {
    id: "last-month", label: "Last month",
    range: (t) => { const end = addDays(t.slice(0, 8) + "01", -1); return [end.slice(0, 8) + "01", end]; },
  },
  { id: "12mo", label: "Last 12 months", range: (t) => [addDays(t, -364), t] },
];

/** The report period from the route, defaulting to the last 30 days, with the previous
 * period of the same length for comparison. */
export function periodFrom(query, timeZone, now = new Date()) {
  const today = todayIn(timeZone, now);
  let from = query.get("from");
  let to = query.get("to");
  if (!validYMD(from) || !validYMD(to) || from > to) [from, to] = PRESETS[3].range(today);
  const length = daysBetween(from, to);
  const preset = PRESETS.find((p) => { const [a, b] = p.range(today); return a === from && b === to; });
  return {
    from, to, length, preset,
    previous: { from: addDays(from, -length), to: addDays(from, -1) },
    interval: length === 1 ? "hour" : "day",
  };
}
