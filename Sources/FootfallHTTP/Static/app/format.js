/* How numbers, durations, times and dimension values read on the dashboard. Pure functions (the
 * browser's Intl only), unit-tested by Tests/Dashboard with `node --test`. */

export function fmtNumber(n) {
  const value = Number(n) || 0;
  if (Math.abs(value) < 1000) return String(Math.round(value));
  const units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
  for (const [size, unit] of units) {
    if (Math.abs(value) >= size) return (value / size).toFixed(value / size < 10 ? 1 : 0).replace(/\.0$/, "") + unit;
  }
  return String(value);
}

export function fmtDuration(seconds) {
  const total = Math.round(Number(seconds) || 0);
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m ${total % 60}s`;
  return `${Math.floor(total / 3600)}h ${Math.floor((total % 3600) / 60)}m`;
}

export const fmtPercent = (fraction) => `${Math.round((Number(fraction) || 0) * 100)}%`;

export function fmtDateTime(ms, timeZone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  }).format(new Date(ms));
}

export function fmtTime(ms, timeZone) {
  return new Intl.DateTimeFormat(undefined, { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(ms));
}

export function fmtDay(ms, timeZone) {
  return new Intl.DateTimeFormat(undefined, { timeZone, weekday: "short", month: "short", day: "numeric", year: "numeric" }).format(new Date(ms));
}

export function fmtAgo(ms, nowMs) {
  const seconds = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;
export function countryName(code) {
  if (!code) return "Unknown";
  try {
    return (regionNames && regionNames.of(code.toUpperCase())) || code;
  } catch (e) {
    return code;
  }
}

export const capitalize = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text);

/** How a dimension's raw value reads in a table, a chip or the feed. */
export function displayValue(dimension, value) {
  if (dimension === "country") return countryName(value);
  if (dimension === "device") return capitalize(value) || "Unknown";
  if (dimension === "referrer") return value || "Direct / none";
  if (dimension === "click") {
    // The click breakdown's values are "kind:target"; the target may hold colons itself.
    const [kind, ...rest] = value.split(":");
    return clickLabel(kind, rest.join(":"));
  }
  return value === "" ? "(none)" : value;
}

/** A click as it reads anywhere: the tracker names it "outbound" or by its button. */
export function clickLabel(kind, target) {
  return kind === "outbound" ? `Outbound link to ${target}` : `Button “${target}”`;
}
