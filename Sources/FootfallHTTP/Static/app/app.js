/* Footfall dashboard: a single-page app over the node's own JSON API, as native ES modules.
 * No framework and no third-party code: every value that came from a visitor (paths, titles,
 * referrers, event names, notes) reaches the page as text nodes, never as HTML (dom.js). */
import { PRESETS, periodFrom, todayIn, validYMD } from "./dates.js";
import { h, s, setChildren } from "./dom.js";
import {
  capitalize, clickLabel, countryName, displayValue, fmtAgo, fmtDateTime, fmtDay, fmtDuration, fmtNumber, fmtPercent, fmtTime,
} from "./format.js";
import { link, parseRoute } from "./routing.js";

// ---------------------------------------------------------------- API

/** Who is signed in. The CSRF token is kept in memory only because nothing needs it beyond
 * this tab: a reload recovers it from GET /api/me, so there is no reason to persist it. */
const session = { me: null, csrf: null, sites: [] };

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const method = options.method || "GET";
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    if (!session.csrf && path !== "/api/login") throw new ApiError(403, "This page lost its sign-in token; sign in again to make changes.");
    if (session.csrf) headers["X-CSRF-Token"] = session.csrf;
  }
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (e) {
    throw new ApiError(0, "The node could not be reached. Check your connection and try again.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/login" && path !== "/api/me") signedOut();
    throw new ApiError(response.status, (data && data.error) || `The node answered ${response.status}.`);
  }
  return data;
}

const enc = encodeURIComponent;
const sitePath = (site, rest) => `/api/sites/${enc(site)}${rest || ""}`;

function isOperator() {
  // GET /api/me sends the flag as a string, like its other fields.
  return session.me !== null && session.me.operator === "true";
}

function clearSession() {
  session.me = null;
  session.csrf = null;
  session.sites = [];
}

async function loadSession() {
  try {
    session.me = await api("/api/me");
    if (session.me.csrf_token) session.csrf = session.me.csrf_token;
    session.sites = await api("/api/sites");
  } catch (e) {
    if (e.status !== 401) throw e;
    clearSession();
  }
}

/** The session ended (expired, signed out elsewhere, password changed): back to the login,
 * which returns to this page afterwards. Several requests may fail at once; only the first
 * one may act, as a later one would read the login page's address as the page to return to. */
function signedOut() {
  if (session.me === null) return;
  const next = location.hash;
  clearSession();
  go(["login"], next && !next.startsWith("#/login") ? { next } : {});
}

function go(parts, query) {
  const target = link(parts, query);
  if (location.hash === target) render();
  else location.hash = target;
}

/** What the view on screen must undo when the route changes (streams, timers). */
let view = { alive: false, cleanups: [] };

function newView() {
  view.alive = false;
  view.cleanups.forEach((fn) => fn());
  view = { alive: true, cleanups: [] };
  return view;
}

/** Runs `fn` when view `v` is left, or at once if it already was (a stream opened after an
 * await must not outlive a view nobody sees). */
function onLeave(v, fn) {
  if (v.alive) v.cleanups.push(fn);
  else fn();
}

async function render() {
  const current = newView();
  const { parts, query } = parseRoute(location.hash);
  const root = document.getElementById("app");
  if (session.me === null && parts[0] !== "login") {
    const next = location.hash;
    return go(["login"], next && next !== "#/" ? { next } : {});
  }
  if (parts[0] === "login") return session.me ? go(homeRoute()) : setChildren(root, loginView(query));
  const main = h("main", { class: "page" });
  setChildren(root, topBar(parts), main);
  try {
    await route(parts, query, main, current);
  } catch (e) {
    if (current.alive) setChildren(main, errorBox(e));
  }
}

function homeRoute() {
  return session.sites.length ? ["sites", session.sites[0].domain, "realtime"] : ["account"];
}

async function route(parts, query, main, current) {
  const [section, site, tab, visitor] = parts;
  if (section === undefined) return go(homeRoute());
  if (section === "account") return accountView(main);
  if (section === "cluster") return isOperator() ? clusterView(main, current) : setChildren(main, errorBox(new ApiError(403, "The cluster view is for operators.")));
  if (section !== "sites" || !site) return setChildren(main, errorBox(new ApiError(404, "There is no such page.")));
  const record = await findSite(site);
  if (!current.alive) return; // the route changed while the site list loaded
  if (!record) return setChildren(main, errorBox(new ApiError(404, `There is no site “${site}” for this account.`)));
  if (tab === "realtime") return realtimeView(main, record, current);
  if (tab === "overview") return overviewView(main, record, query, current);
  if (tab === "visitors" && visitor) return profileView(main, record, visitor, current);
  if (tab === "visitors") return visitorsView(main, record, current);
  if (tab === "settings") return settingsView(main, record, current);
  go(["sites", site, "realtime"]);
}

/** The site from the account's list; the list is read again once in case a site was added
 * elsewhere. A site the account does not own is simply absent (the API answers 404 too). */
async function findSite(domain) {
  let record = session.sites.find((s) => s.domain === domain);
  if (!record) {
    session.sites = await api("/api/sites");
    record = session.sites.find((s) => s.domain === domain);
  }
  return record;
}

// ---------------------------------------------------------------- Shell

const TABS = [["realtime", "Realtime"], ["overview", "Overview"], ["visitors", "Visitors"], ["settings", "Settings"]];

function topBar(parts) {
  const [section, site, tab] = parts;
  const onSite = section === "sites" && site;
  const picker = session.sites.length ? h("select", {
    class: "site-picker", "aria-label": "Site", id: "site-picker",
    onchange: (e) => go(["sites", e.target.value, onSite ? tab || "realtime" : "realtime"]),
  }, !onSite || !session.sites.some((x) => x.domain === site) ? h("option", { value: "", text: "Choose a site", disabled: true, selected: true }) : null,
  session.sites.map((x) => h("option", { value: x.domain, text: x.domain, selected: x.domain === site }))) : null;
  const tabs = onSite ? h("nav", { class: "tabs", "aria-label": "Site sections" },
    TABS.map(([id, label]) => h("a", { href: link(["sites", site, id]), class: tab === id ? "tab active" : "tab", "aria-current": tab === id ? "page" : null, text: label }))) : null;
  return h("header", { class: "topbar" }, h("div", { class: "topbar-inner" },
    h("a", { class: "brand", href: "#/" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "Footfall"),
    picker,
    h("div", { class: "user-links" },
      isOperator() ? h("a", { href: "#/cluster", class: section === "cluster" ? "active" : null, text: "Cluster" }) : null,
      h("a", { href: "#/account", class: section === "account" ? "active" : null, text: "Account", title: session.me.email }),
      h("button", { class: "link-button", id: "sign-out", type: "button", onclick: signOut, text: "Sign out" })),
    tabs));
}

async function signOut() {
  try {
    await api("/api/logout", { method: "POST" });
  } finally {
    clearSession();
    go(["login"]);
  }
}

function errorBox(error) {
  const message = error instanceof ApiError ? error.message : "Something went wrong while drawing this page.";
  if (!(error instanceof ApiError)) console.warn(error);
  return h("div", { class: "notice error", role: "alert" }, h("strong", { text: "Can’t show this. " }), message);
}

function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", { class: "card-title", text: title }) : null, children);
}

function loading() {
  return h("div", { class: "loading", "aria-busy": "true" }, h("span", { class: "spinner" }), "Loading…");
}

/** A button that asks once more before doing something that cannot be undone. With a
 * `doneLabel` it stays disabled afterwards, saying what happened. */
function confirmButton(label, confirmLabel, action, attrs, doneLabel) {
  const button = h("button", Object.assign({ type: "button", class: "button danger" }, attrs, { text: label }));
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add("armed");
      return;
    }
    button.disabled = true;
    try {
      await action();
      if (doneLabel) {
        button.textContent = doneLabel;
        button.classList.remove("armed");
        return;
      }
    } catch (e) {
      button.after(errorBox(e));
    }
    armed = false;
    button.disabled = false;
    button.textContent = label;
    button.classList.remove("armed");
  });
  return button;
}

/** Runs a form's action, showing its outcome in `status` and keeping the button disabled meanwhile. */
function formAction(form, status, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    status.className = "form-status";
    status.textContent = "";
    try {
      const message = await action(new FormData(form));
      if (message) { status.className = "form-status good"; status.textContent = message; }
    } catch (e) {
      status.className = "form-status bad";
      status.textContent = e.message;
    } finally {
      if (submit) submit.disabled = false;
    }
  });
}

function copyButton(getText) {
  const button = h("button", { type: "button", class: "button small", text: "Copy" });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(getText());
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

// ---------------------------------------------------------------- Login and account

function loginView(query) {
  const status = h("p", { class: "form-status", role: "status" });
  const form = h("form", { class: "login-card card", id: "login-form" },
    h("div", { class: "login-brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "Footfall"),
    h("h1", { text: "Sign in to your dashboard" }),
    h("label", { text: "Email" }, h("input", { name: "email", type: "email", autocomplete: "username", required: true, autofocus: true })),
    h("label", { text: "Password" }, h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit", class: "button primary wide", text: "Sign in" }),
    status,
    h("p", { class: "muted small", text: "Privacy-first analytics: visitors are counted without cookies unless they consent." }));
  formAction(form, status, async (data) => {
    const answer = await api("/api/login", { method: "POST", body: { email: data.get("email"), password: data.get("password") } });
    session.csrf = answer.csrf_token;
    await loadSession();
    const next = query.get("next");
    if (next && next.startsWith("#/") && !next.startsWith("#/login")) location.hash = next;
    else go(homeRoute());
  });
  return h("div", { class: "login-page" }, form);
}

function accountView(main) {
  const passwordStatus = h("p", { class: "form-status", role: "status" });
  const passwordForm = h("form", { class: "stack", id: "password-form" },
    h("label", { text: "Current password" }, h("input", { name: "current", type: "password", autocomplete: "current-password", required: true })),
    h("label", { text: "New password" }, h("input", { name: "new", type: "password", autocomplete: "new-password", required: true, minlength: 8 })),
    h("label", { text: "Repeat the new password" }, h("input", { name: "repeat", type: "password", autocomplete: "new-password", required: true })),
    h("div", {}, h("button", { type: "submit", class: "button primary", text: "Change password" })),
    passwordStatus);
  formAction(passwordForm, passwordStatus, async (data) => {
    if (data.get("new") !== data.get("repeat")) throw new Error("The two new passwords differ.");
    await api("/api/password", { method: "POST", body: { current: data.get("current"), new: data.get("new") } });
    passwordForm.reset();
    return "Password changed. Your other sessions were signed out.";
  });

  const siteStatus = h("p", { class: "form-status", role: "status" });
  const siteForm = h("form", { class: "inline-form" },
    h("input", { name: "domain", placeholder: "example.com", "aria-label": "Domain", required: true }),
    h("button", { type: "submit", class: "button", text: "Add site" }));
  formAction(siteForm, siteStatus, async (data) => {
    const site = await api("/api/sites", { method: "POST", body: { domain: data.get("domain").trim(), timezone: Intl.DateTimeFormat().resolvedOptions().timeZone } });
    session.sites = await api("/api/sites");
    go(["sites", site.domain, "settings"]);
  });

  setChildren(main,
    h("div", { class: "page-head" }, h("h1", { text: "Account" }), h("p", { class: "muted", text: session.me.email })),
    h("div", { class: "grid two" },
      card("Password", passwordForm),
      card("Your sites",
        session.sites.length
          ? h("ul", { class: "plain-list" }, session.sites.map((x) => h("li", {}, h("a", { href: link(["sites", x.domain, "overview"]), text: x.domain }), h("span", { class: "muted small", text: ` · ${x.timezone} · ${x.retention_days} days` }))))
          : h("p", { class: "muted", text: "No sites yet. Add one to get its tracker snippet." }),
        siteForm, siteStatus)));
}

// ---------------------------------------------------------------- Realtime

function realtimeView(main, site, current) {
  const online = h("div", { class: "online-count", id: "online-count", text: "–" });
  const split = h("div", { class: "muted", id: "online-split" });
  const state = h("span", { class: "live-state", id: "live-state", text: "Connecting…" });
  const feed = h("ol", { class: "feed", id: "live-feed", "aria-live": "polite" });
  const pages = h("div", { id: "realtime-pages" });
  const sources = h("div", { id: "realtime-sources" });
  setChildren(main,
    h("div", { class: "page-head" }, h("h1", { text: "Realtime" }), state),
    h("div", { class: "realtime-grid" },
      h("section", { class: "card online-card" },
        h("div", { class: "online-label" }, h("span", { class: "pulse", "aria-hidden": "true" }), "Visitors online"),
        online, split,
        h("p", { class: "muted small", text: "Online: seen in the last 5 minutes. Active: in the last minute." })),
      h("section", { class: "card feed-card" }, h("h2", { class: "card-title", text: "Live feed" }), feed)),
    h("div", { class: "grid two" }, card("Current top pages", pages), card("Current top sources", sources)));

  // The ids of the previous snapshot's feed: any other item is new and is highlighted. Null
  // until the first snapshot, whose items are not news; rebuilt each time, so it never holds
  // more than one feed.
  let seen = null;
  function show(snapshot) {
    if (!current.alive) return;
    online.textContent = fmtNumber(snapshot.online_visitors);
    split.textContent = `${snapshot.active_visitors} active · ${snapshot.idle_visitors} idle`;
    setChildren(feed, snapshot.feed.length
      ? snapshot.feed.map((item) => feedItem(item, site, snapshot.generated_ms, seen !== null && !seen.has(item.id)))
      : h("li", { class: "empty", text: "No actions in the last 30 minutes. They appear here the moment they happen." }));
    seen = new Set(snapshot.feed.map((item) => item.id));
    setChildren(pages, barTable(snapshot.top_pages, { dimension: "page", metric: "Pageviews" }));
    setChildren(sources, barTable(snapshot.top_sources, { dimension: "referrer", metric: "Pageviews" }));
  }
  connectLive(site, current, show, (text, live) => {
    state.textContent = text;
    state.classList.toggle("on", live);
  });
}

/** Snapshots pushed by the node once a second over server-sent events. "Live" shows only
 * while snapshots arrive: the node sends `unavailable` when no replica answered this second,
 * `denied` (then ends the stream) when the credential no longer reads the site, and `busy`
 * when the credential has as many streams open as it may. Should
 * the stream be refused (an old node, a proxy that drops event streams), the same snapshots
 * are polled. */
function connectLive(site, current, onSnapshot, onState) {
  const source = new EventSource(sitePath(site.domain, "/live"));
  onLeave(current, () => source.close());
  source.addEventListener("snapshot", (event) => {
    onState("Live", true);
    onSnapshot(JSON.parse(event.data));
  });
  source.addEventListener("unavailable", () => onState("Waiting for a replica…", false));
  // This sign-in holds the most live streams a credential may (other tabs): poll instead.
  source.addEventListener("busy", () => {
    source.close();
    pollRealtime(site, current, onSnapshot, onState);
  });
  source.addEventListener("denied", () => {
    // Closed at once: left alone, EventSource would reconnect when the node ends the stream.
    source.close();
    streamDenied(current, onState);
  });
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) return onState("Reconnecting…", false);
    source.close();
    pollRealtime(site, current, onSnapshot, onState);
  });
}

/** The node stopped the stream. Usually the session ended (signed out elsewhere, password
 * changed): then the session check answers 401 and the dashboard signs out. It also stops
 * when the account still works but may no longer read this site (the node answers `denied`
 * for 403 and 404 too), which must not sign anyone out. */
async function streamDenied(current, onState) {
  try {
    await api("/api/me");
    if (current.alive) onState("This site is no longer available to this account.", false);
  } catch (e) {
    if (e.status === 401) signedOut();
    else if (current.alive) onState(e.message, false);
  }
}

function pollRealtime(site, current, onSnapshot, onState) {
  let timer = null;
  onLeave(current, () => clearTimeout(timer));
  async function tick() {
    try {
      onSnapshot(await api(sitePath(site.domain, "/realtime")));
      onState("Live (polling)", true);
    } catch (e) {
      onState(e.message, false);
    }
    if (current.alive) timer = setTimeout(tick, 1000);
  }
  tick();
}

const KIND_LABELS = { pageview: "Pageview", click: "Click", custom: "Event", identify: "Identified" };

function feedItem(item, site, nowMs, fresh) {
  let what;
  if (item.kind === "pageview") what = [h("span", { class: "muted", text: "Viewed " }), h("span", { class: "path", text: item.path })];
  else if (item.kind === "click") what = [h("span", { class: "muted", text: "Clicked " }), clickLabel(item.name, item.target), h("span", { class: "muted", text: " on " }), h("span", { class: "path", text: item.path })];
  else if (item.kind === "custom") what = [h("strong", { text: item.name }), h("span", { class: "muted", text: " on " }), h("span", { class: "path", text: item.path })];
  else what = [h("span", { class: "muted", text: "Shared their contact details on " }), h("span", { class: "path", text: item.path })];
  const meta = [countryName(item.country), capitalize(item.device), item.browser].filter(Boolean).join(" · ");
  return h("li", { class: fresh ? "feed-item fresh" : "feed-item", "data-id": item.id },
    h("span", { class: `kind kind-${item.kind}`, text: KIND_LABELS[item.kind] || item.kind }),
    h("div", { class: "feed-body" },
      h("div", { class: "feed-what" }, what),
      h("div", { class: "feed-meta muted small" }, meta,
        item.visitor ? h("a", { href: link(["sites", site.domain, "visitors", item.visitor]), class: "feed-visitor", text: "profile" }) : null)),
    h("time", { class: "muted small", datetime: new Date(item.timestamp_ms).toISOString(), title: fmtTime(item.timestamp_ms, site.timezone), text: fmtAgo(item.timestamp_ms, nowMs) }));
}

// ---------------------------------------------------------------- Tables with bars

/** Ranked rows, each with a bar as long as its share of the top row. Rows become buttons when
 * `onPick` is given (clicking one filters the overview by it); `format` writes the counts. */
function barTable(rows, { dimension, metric, onPick, format = fmtNumber }) {
  if (!rows || !rows.length) return h("p", { class: "empty", text: "Nothing here for this period." });
  const max = Math.max(1, ...rows.map((r) => r.count));
  const showVisitors = rows.some((r) => r.visitors !== undefined && r.visitors !== null);
  return h("div", { class: "bar-table", role: "table" },
    h("div", { class: "bar-head", role: "row" },
      h("span", { role: "columnheader", text: DIMENSION_LABELS[dimension] || "Value" }),
      showVisitors ? h("span", { class: "num", role: "columnheader", text: "Visitors" }) : null,
      h("span", { class: "num", role: "columnheader", text: metric })),
    rows.map((row) => {
      const label = displayValue(dimension, row.value);
      const attrs = onPick
        ? { class: "bar-row pick", role: "row", tabindex: "0", title: `Filter by ${label}`, "data-value": row.value,
          onclick: () => onPick(row.value), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onPick(row.value); } } }
        : { class: "bar-row", role: "row", "data-value": row.value };
      return h("div", attrs,
        h("span", { class: "bar-label", role: "cell" },
          h("span", { class: "bar", style: { width: `${(row.count / max) * 100}%` }, "aria-hidden": "true" }),
          h("span", { class: "bar-text", text: label })),
        showVisitors ? h("span", { class: "num", role: "cell", text: row.visitors === undefined || row.visitors === null ? "–" : fmtNumber(row.visitors) }) : null,
        h("span", { class: "num", role: "cell", text: format(row.count) }));
    }));
}

// ---------------------------------------------------------------- Overview

const DIMENSION_LABELS = {
  page: "Page", entry_page: "Entry page", exit_page: "Exit page", referrer: "Referrer",
  utm_source: "UTM source", utm_medium: "UTM medium", utm_campaign: "UTM campaign", utm_term: "UTM term", utm_content: "UTM content",
  country: "Country", region: "Region", browser: "Browser", os: "Operating system", device: "Device",
  event: "Custom event", click: "Click", node: "Node",
};

const PANELS = [
  { title: "Top pages", tabs: [["page", "Pages", "Pageviews"], ["entry_page", "Entry", "Visits"], ["exit_page", "Exit", "Visits"]] },
  { title: "Top sources", tabs: [["referrer", "Referrers", "Pageviews"], ["utm_source", "Source", "Pageviews"], ["utm_medium", "Medium", "Pageviews"], ["utm_campaign", "Campaign", "Pageviews"]] },
  { title: "Locations", tabs: [["country", "Countries", "Pageviews"], ["region", "Regions", "Pageviews"]] },
  { title: "Devices", tabs: [["browser", "Browser", "Pageviews"], ["os", "OS", "Pageviews"], ["device", "Size", "Pageviews"]] },
  { title: "Goals", tabs: [["event", "Custom events", "Events"], ["click", "Clicks", "Clicks"]], wide: true },
];

const KPIS = [
  { key: "visitors", label: "Unique visitors", format: fmtNumber, chart: true },
  { key: "visits", label: "Visits", format: fmtNumber, chart: true },
  { key: "pageviews", label: "Pageviews", format: fmtNumber, chart: true },
  { key: "bounce_rate", label: "Bounce rate", format: fmtPercent, lowerIsBetter: true },
  { key: "visit_duration_s", label: "Visit duration", format: fmtDuration },
];

function filtersOf(query) {
  return [...query.entries()].filter(([key]) => key.startsWith("filter.")).map(([key, value]) => [key.slice(7), value]);
}

function reportQuery(period, filters, extra) {
  const params = new URLSearchParams({ from: period.from, to: period.to });
  filters.forEach(([dimension, value]) => params.set(`filter.${dimension}`, value));
  Object.entries(extra || {}).forEach(([key, value]) => params.set(key, value));
  return "?" + params.toString();
}

async function overviewView(main, site, query, current) {
  const period = periodFrom(query, site.timezone);
  const filters = filtersOf(query);
  const routeWith = (changes) => {
    const next = new URLSearchParams(query);
    Object.entries(changes).forEach(([key, value]) => (value === null ? next.delete(key) : next.set(key, value)));
    go(["sites", site.domain, "overview"], next);
  };
  const chartMetric = KPIS.some((k) => k.chart && k.key === query.get("metric")) ? query.get("metric") : "visitors";

  const kpis = h("div", { class: "kpis", id: "kpis" }, loading());
  const chart = h("div", { class: "chart-holder", id: "chart" });
  setChildren(main,
    h("div", { class: "page-head wrap" },
      h("h1", { text: "Overview" }),
      periodPicker(period, site, (from, to) => routeWith({ from, to }))),
    filters.length ? filterChips(filters, (dimension) => routeWith({ [`filter.${dimension}`]: null })) : null,
    h("section", { class: "card chart-card" }, kpis, chart),
    h("div", { class: "grid two panels" }, PANELS.map((panel) => reportPanel(panel, site, period, filters, current,
      (dimension, value) => routeWith({ [`filter.${dimension}`]: value })))));

  const [summary, previous, series, previousSeries] = await Promise.all([
    api(sitePath(site.domain, "/summary" + reportQuery(period, filters))),
    api(sitePath(site.domain, "/summary" + reportQuery(period.previous, filters))),
    api(sitePath(site.domain, "/timeseries" + reportQuery(period, filters, { interval: period.interval }))),
    api(sitePath(site.domain, "/timeseries" + reportQuery(period.previous, filters, { interval: period.interval }))),
  ]);
  if (!current.alive) return;
  setChildren(kpis, KPIS.map((kpi) => kpiCard(kpi, summary, previous, chartMetric, () => routeWith({ metric: kpi.key }))));
  const metric = KPIS.find((k) => k.key === chartMetric);
  setChildren(chart, timeseriesChart(series, previousSeries, metric, period, site.timezone));
}

function periodPicker(period, site, onChange) {
  const today = todayIn(site.timezone);
  const from = h("input", { type: "date", value: period.from, max: today, "aria-label": "From" });
  const to = h("input", { type: "date", value: period.to, max: today, "aria-label": "To" });
  const custom = h("form", { class: "custom-range", hidden: !!period.preset },
    from, h("span", { class: "muted", text: "–" }), to, h("button", { type: "submit", class: "button small", text: "Apply" }));
  custom.addEventListener("submit", (e) => {
    e.preventDefault();
    if (validYMD(from.value) && validYMD(to.value) && from.value <= to.value) onChange(from.value, to.value);
  });
  const select = h("select", {
    class: "period-select", id: "period", "aria-label": "Period",
    onchange: (e) => {
      const preset = PRESETS.find((p) => p.id === e.target.value);
      if (preset) onChange(...preset.range(today));
      else custom.hidden = false;
    },
  }, PRESETS.map((p) => h("option", { value: p.id, text: p.label, selected: period.preset === p })),
  h("option", { value: "custom", text: period.preset ? "Custom range…" : `${period.from} – ${period.to}`, selected: !period.preset }));
  return h("div", { class: "period" }, select, custom,
    h("span", { class: "muted small compare-note", text: `compared with ${period.previous.from} – ${period.previous.to}` }));
}

function filterChips(filters, onRemove) {
  return h("div", { class: "chips", id: "filters", "aria-label": "Filters" },
    h("span", { class: "muted small", text: "Filtered by" }),
    filters.map(([dimension, value]) => h("span", { class: "chip", "data-dimension": dimension },
      h("span", { text: `${DIMENSION_LABELS[dimension] || dimension} is ` }), h("strong", { text: displayValue(dimension, value) }),
      h("button", { type: "button", class: "chip-remove", "aria-label": `Remove the ${DIMENSION_LABELS[dimension] || dimension} filter`, text: "×", onclick: () => onRemove(dimension) }))));
}

function kpiCard(kpi, summary, previous, chartMetric, onSelect) {
  const value = Number(summary[kpi.key]) || 0;
  const before = Number(previous[kpi.key]) || 0;
  const change = comparison(kpi, value, before);
  const attrs = { class: `kpi${kpi.chart ? " selectable" : ""}${kpi.key === chartMetric ? " selected" : ""}`, "data-kpi": kpi.key };
  const body = [
    h("span", { class: "kpi-label", text: kpi.label }),
    h("span", { class: "kpi-value", text: kpi.format(value) }),
    h("span", { class: `kpi-change ${change.tone}`, title: `previous period: ${kpi.format(before)}`, text: change.text }),
  ];
  return kpi.chart
    ? h("button", Object.assign(attrs, { type: "button", onclick: onSelect, "aria-pressed": kpi.key === chartMetric ? "true" : "false" }), body)
    : h("div", attrs, body);
}

/** The change against the previous period: relative for counts and durations, in percentage
 * points for the bounce rate (a relative change of a rate reads as nonsense). */
function comparison(kpi, value, before) {
  if (kpi.key === "bounce_rate") {
    const points = Math.round((value - before) * 100);
    if (points === 0) return { text: "± 0 pp", tone: "flat" };
    const better = points < 0;
    return { text: `${points > 0 ? "↑" : "↓"} ${Math.abs(points)} pp`, tone: better ? "good" : "bad" };
  }
  if (before === 0) return value === 0 ? { text: "—", tone: "flat" } : { text: "new", tone: "good" };
  const percent = Math.round(((value - before) / before) * 100);
  if (percent === 0) return { text: "± 0%", tone: "flat" };
  const better = kpi.lowerIsBetter ? percent < 0 : percent > 0;
  return { text: `${percent > 0 ? "↑" : "↓"} ${Math.abs(percent)}%`, tone: better ? "good" : "bad" };
}

/** One table card with tabs; each tab's breakdown is read when it is first shown. */
function reportPanel(panel, site, period, filters, current, onFilter) {
  const body = h("div", { class: "panel-body" });
  const tabs = h("div", { class: "panel-tabs", role: "tablist" });
  let active = null;
  function show([dimension, label, metric]) {
    active = dimension;
    setChildren(tabs, panel.tabs.map((tab) => h("button", {
      type: "button", role: "tab", class: tab[0] === dimension ? "active" : null, "aria-selected": tab[0] === dimension ? "true" : "false",
      text: tab[1], onclick: () => show(tab),
    })));
    setChildren(body, loading());
    api(sitePath(site.domain, `/breakdown/${dimension}` + reportQuery(period, filters, { limit: 10 })))
      .then((rows) => {
        if (!current.alive || active !== dimension) return;
        const filtered = filters.some(([d]) => d === dimension);
        setChildren(body, barTable(rows, { dimension, metric, onPick: filtered ? null : (value) => onFilter(dimension, value) }));
      })
      .catch((e) => { if (current.alive && active === dimension) setChildren(body, errorBox(e)); });
  }
  show(panel.tabs[0]);
  return h("section", { class: `card panel${panel.wide ? " wide" : ""}`, "data-panel": panel.tabs[0][0] },
    h("div", { class: "panel-head" }, h("h2", { class: "card-title", text: panel.title }), tabs), body);
}

// ---------------------------------------------------------------- Timeseries chart

/** An SVG area chart stretched to its box (lines keep their width), with HTML axis labels and
 * a hover guide, so it stays crisp at any width without a resize handler. */
function timeseriesChart(points, previousPoints, metric, period, timeZone) {
  const W = 1000, H = 260;
  const values = points.map((p) => Number(p[metric.key]) || 0);
  const before = previousPoints.map((p) => Number(p[metric.key]) || 0);
  const top = niceCeiling(Math.max(1, ...values, ...before));
  const x = (i) => (points.length === 1 ? W / 2 : (i * W) / (points.length - 1));
  const y = (v) => H - (v / top) * H;
  const line = (series) => series.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "chart-svg", role: "img", "aria-label": `${metric.label} over time` });
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  ticks.forEach((t) => svg.append(s("line", { x1: 0, x2: W, y1: y(top * t), y2: y(top * t), class: "grid-line" })));
  if (before.length) svg.append(s("path", { d: line(before.slice(0, values.length)), class: "series-previous" }));
  if (values.length) {
    svg.append(s("path", { d: `${line(values)}L${x(values.length - 1)},${H}L${x(0)},${H}Z`, class: "series-area" }));
    svg.append(s("path", { d: line(values), class: "series-line" }));
  }

  const label = (ms) => (period.interval === "hour"
    ? new Intl.DateTimeFormat(undefined, { timeZone, hour: "2-digit", minute: "2-digit" }).format(new Date(ms))
    : new Intl.DateTimeFormat(undefined, { timeZone, month: "short", day: "numeric" }).format(new Date(ms)));
  const pct = (i) => `${(x(i) / W) * 100}%`;
  const every = Math.max(1, Math.ceil(points.length / 6));
  const xLabels = h("div", { class: "x-labels", "aria-hidden": "true" },
    points.map((p, i) => (i % every === 0 ? h("span", { style: { left: pct(i) }, text: label(p.start_ms) }) : null)));
  const yLabels = h("div", { class: "y-labels", "aria-hidden": "true" },
    ticks.map((t) => h("span", { style: { top: `${(1 - t) * 100}%` }, text: fmtNumber(top * t) })));

  const guide = h("div", { class: "guide", hidden: true });
  const dot = h("div", { class: "dot", hidden: true });
  const tip = h("div", { class: "tooltip", hidden: true, role: "tooltip" });
  const plot = h("div", { class: "plot" }, svg, guide, dot, tip);
  function hover(event) {
    if (!points.length) return;
    const box = plot.getBoundingClientRect();
    const i = Math.max(0, Math.min(points.length - 1, Math.round(((event.clientX - box.left) / box.width) * (points.length - 1))));
    guide.hidden = dot.hidden = tip.hidden = false;
    guide.style.left = dot.style.left = pct(i);
    dot.style.top = `${(y(values[i]) / H) * 100}%`;
    setChildren(tip,
      h("div", { class: "tooltip-title", text: period.interval === "hour" ? `${label(points[i].start_ms)}` : fmtDay(points[i].start_ms, timeZone) }),
      h("div", {}, h("span", { class: "swatch now" }), `${metric.label}: `, h("strong", { text: fmtNumber(values[i]) })),
      i < before.length ? h("div", { class: "muted" }, h("span", { class: "swatch before" }), `Previous period: ${fmtNumber(before[i])}`) : null);
    const leftHalf = x(i) < W / 2;
    tip.style.left = leftHalf ? pct(i) : "auto";
    tip.style.right = leftHalf ? "auto" : `${100 - (x(i) / W) * 100}%`;
  }
  plot.addEventListener("pointermove", hover);
  plot.addEventListener("pointerleave", () => { guide.hidden = dot.hidden = tip.hidden = true; });
  return h("div", { class: "chart" },
    h("div", { class: "chart-legend muted small" }, h("span", { class: "swatch now" }), metric.label, h("span", { class: "swatch before" }), "previous period"),
    h("div", { class: "chart-area" }, yLabels, plot), xLabels);
}

/** A round number at or above `value` (1, 2, 2.5 or 5 times a power of ten) for the y axis. */
function niceCeiling(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return Math.max(4, step * power);
  return value;
}

// ---------------------------------------------------------------- Visitors

function visitorName(v) {
  return v.name || v.email || `Visitor ${v.visitor.slice(0, 6)}`;
}

async function visitorsView(main, site, current) {
  const list = h("div", {}, loading());
  setChildren(main,
    h("div", { class: "page-head" }, h("h1", { text: "Visitors" }),
      h("p", { class: "muted", text: "Visitors who consented to a first-party id. Everyone else is counted without cookies and cannot be singled out." })),
    card(null, list));
  const visitors = await api(sitePath(site.domain, "/visitors?limit=200"));
  if (!current.alive) return;
  visitors.sort((a, b) => b.last_seen_ms - a.last_seen_ms);
  if (!visitors.length) {
    return setChildren(list, h("p", { class: "empty", text: "No consented visitors yet. They appear once a page calls footfall('consent', true)." }));
  }
  setChildren(list, h("table", { class: "table visitors-table", id: "visitors" },
    h("thead", {}, h("tr", {}, ["Visitor", "Last seen", "Pages", "Country", "Device"].map((title, i) => h("th", { class: i === 2 ? "num" : i > 2 ? "hide-sm" : null, text: title })))),
    h("tbody", {}, visitors.map((v) => {
      const open = () => go(["sites", site.domain, "visitors", v.visitor]);
      return h("tr", { class: "pick", tabindex: "0", "data-visitor": v.visitor, onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); } },
        h("td", {}, h("a", { href: link(["sites", site.domain, "visitors", v.visitor]), class: "strong", text: visitorName(v) }),
          v.tags.length ? h("span", { class: "tags" }, v.tags.map((t) => h("span", { class: "tag", text: t }))) : null),
        h("td", { text: fmtAgo(v.last_seen_ms, Date.now()), title: fmtDateTime(v.last_seen_ms, site.timezone) }),
        h("td", { class: "num", text: fmtNumber(v.pageviews) }),
        h("td", { class: "hide-sm", text: countryName(v.country) }),
        h("td", { class: "hide-sm", text: [capitalize(v.device), v.browser, v.os].filter(Boolean).join(" · ") }));
    }))));
}

async function profileView(main, site, visitorID, current) {
  setChildren(main, loading());
  const profile = await api(sitePath(site.domain, `/visitors/${enc(visitorID)}`));
  if (!current.alive) return;
  const v = profile.visitor;
  const events = profile.events.filter((e) => e.kind !== "engagement").sort((a, b) => a.timestamp_ms - b.timestamp_ms);
  const notes = h("div", { id: "notes" });
  const tags = h("div", { id: "tags" });
  const refresh = (record) => {
    setChildren(notes, notesEditor(site, record, refresh));
    setChildren(tags, tagsEditor(site, record, refresh));
  };
  refresh(v);
  setChildren(main,
    h("p", { class: "breadcrumb" }, h("a", { href: link(["sites", site.domain, "visitors"]), text: "← Visitors" })),
    h("div", { class: "page-head wrap" },
      h("div", {}, h("h1", { text: visitorName(v) }), h("p", { class: "muted mono small", text: v.visitor })),
      h("div", { class: "actions" },
        exportLink(site, v.visitor),
        h("a", { class: "button", href: link(["sites", site.domain, "settings"], { erase: v.visitor }), text: "Erase…" }))),
    h("div", { class: "profile-grid" },
      h("div", { class: "stack" },
        card("About",
          h("dl", { class: "facts" },
            fact("First seen", fmtDateTime(v.first_seen_ms, site.timezone)),
            fact("Last seen", fmtDateTime(v.last_seen_ms, site.timezone)),
            fact("Pageviews", fmtNumber(v.pageviews)),
            fact("Actions", fmtNumber(v.events)),
            fact("Country", countryName(v.country)),
            fact("Device", [capitalize(v.device), v.browser, v.os].filter(Boolean).join(" · ")),
            v.name ? fact("Name", v.name) : null,
            v.email ? fact("Email", v.email) : null,
            v.phone ? fact("Phone", v.phone) : null)),
        card("Tags", tags),
        card("Notes", notes)),
      card("Path", timeline(events, site))));
}

function fact(term, value) {
  return [h("dt", { text: term }), h("dd", { text: value })];
}

/** The visitor's pages and clicks in order, split into visits where 30 minutes passed. */
function timeline(events, site) {
  if (!events.length) return h("p", { class: "empty", text: "No actions kept within the site's retention." });
  const visits = [];
  events.forEach((event, i) => {
    if (i === 0 || event.timestamp_ms - events[i - 1].timestamp_ms > 30 * 60000) visits.push([]);
    visits[visits.length - 1].push(event);
  });
  return h("div", { class: "timeline", id: "timeline" }, visits.reverse().map((visit) => h("div", { class: "visit" },
    h("h3", { class: "visit-head" }, fmtDay(visit[0].timestamp_ms, site.timezone),
      h("span", { class: "muted small", text: ` · ${visit.length} action${visit.length === 1 ? "" : "s"}${visit[0].referrer ? ` · from ${visit[0].referrer}` : ""}` })),
    h("ol", { class: "steps" }, visit.map((event) => h("li", { class: `step step-${event.kind}` },
      h("time", { class: "muted small", text: fmtTime(event.timestamp_ms, site.timezone) }),
      h("span", { class: `kind kind-${event.kind}`, text: KIND_LABELS[event.kind] || event.kind }),
      h("span", { class: "step-what" }, stepText(event))))))));
}

function stepText(event) {
  const utm = Object.entries(event.utm || {}).map(([k, v]) => `${k}=${v}`).join(" ");
  if (event.kind === "pageview") {
    return [h("span", { class: "path", text: event.path }), event.title ? h("span", { class: "muted", text: ` ${event.title}` }) : null,
      utm ? h("span", { class: "muted small", text: ` (${utm})` }) : null];
  }
  if (event.kind === "click") return [clickLabel(event.name, event.target), h("span", { class: "muted", text: " on " }), h("span", { class: "path", text: event.path })];
  if (event.kind === "custom") {
    const props = Object.entries(event.props || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
    return [h("strong", { text: event.name }), props ? h("span", { class: "muted", text: ` (${props})` }) : null];
  }
  return h("span", { class: "muted", text: "Shared contact details" });
}

function notesEditor(site, visitor, refresh) {
  const status = h("p", { class: "form-status", role: "status" });
  const form = h("form", { class: "stack", id: "note-form" },
    h("textarea", { name: "text", rows: 3, maxlength: 2000, placeholder: "Add a note about this visitor…", "aria-label": "New note", required: true }),
    h("div", {}, h("button", { type: "submit", class: "button primary", text: "Add note" })), status);
  formAction(form, status, async (data) => {
    const text = String(data.get("text")).trim();
    if (!text) throw new Error("Write something first.");
    refresh(await api(sitePath(site.domain, `/visitors/${enc(visitor.visitor)}/notes`), { method: "POST", body: { text } }));
  });
  const notes = [...visitor.notes].sort((a, b) => b.created_ms - a.created_ms);
  return [
    notes.length ? h("ul", { class: "notes" }, notes.map((note) => h("li", { class: "note", "data-note": note.id },
      h("p", { class: "note-text", text: note.text }),
      h("div", { class: "note-meta" }, h("span", { class: "muted small", text: fmtDateTime(note.created_ms, site.timezone) }),
        confirmButton("Delete", "Delete for good?", async () => {
          refresh(await api(sitePath(site.domain, `/visitors/${enc(visitor.visitor)}/notes/${enc(note.id)}`), { method: "DELETE" }));
        }, { class: "link-button danger-text" })))))
      : h("p", { class: "muted small", text: "No notes yet." }),
    form,
  ];
}

function tagsEditor(site, visitor, refresh) {
  const status = h("p", { class: "form-status", role: "status" });
  const input = h("input", { name: "tags", value: visitor.tags.join(", "), placeholder: "customer, newsletter", "aria-label": "Tags, separated by commas" });
  const form = h("form", { class: "inline-form", id: "tags-form" }, input, h("button", { type: "submit", class: "button", text: "Save tags" }));
  formAction(form, status, async () => {
    const tags = input.value.split(",").map((t) => t.trim()).filter(Boolean);
    refresh(await api(sitePath(site.domain, `/visitors/${enc(visitor.visitor)}/tags`), { method: "PUT", body: { tags } }));
    return "Saved.";
  });
  return [visitor.tags.length ? h("div", { class: "tags" }, visitor.tags.map((t) => h("span", { class: "tag", text: t }))) : null, form, status];
}

/** Saves everything stored about a visitor as a JSON file (the right of access). A plain
 * download: the session cookie goes with it (a GET needs no CSRF token), the node names the
 * file, and a failure shows in the browser's downloads instead of vanishing in a script. */
function exportLink(site, visitorID) {
  return h("a", { class: "button", href: sitePath(site.domain, `/visitors/${enc(visitorID)}/export`), download: true, text: "Export JSON" });
}

// ---------------------------------------------------------------- Settings

async function settingsView(main, site, current) {
  const tokens = h("div", { id: "tokens" }, loading());
  setChildren(main,
    h("div", { class: "page-head" }, h("h1", { text: "Settings" }), h("p", { class: "muted", text: site.domain })),
    h("div", { class: "stack" },
      card("Tracker", trackerSection(site)),
      card("Consent mode", consentSection()),
      card("Data retention", retentionSection(site)),
      card("API tokens", tokens),
      h("section", { class: "card", id: "gdpr" }, h("h2", { class: "card-title", text: "Privacy requests (GDPR)" }), gdprSection(site, current))));
  // Arriving from a profile's "Erase…": the visitor is looked up at once.
  const form = document.getElementById("gdpr-form");
  if (parseRoute(location.hash).query.get("erase")) {
    form.scrollIntoView();
    form.requestSubmit();
  }
  await tokensSection(tokens, site, current);
}

function trackerSection(site) {
  const snippet = site.tracker_snippet;
  const usage = [
    "<script>window.footfall = window.footfall || function () { (window.footfall.q = window.footfall.q || []).push(arguments); };</script>",
    "footfall('event', 'signup', { plan: 'pro' });   // a custom event",
    "footfall('consent', true);                     // after the visitor agreed",
    "footfall('identify', { email: 'ada@example.com' }); // only with consent",
  ].join("\n");
  return [
    h("p", { text: "Put this in the <head> of every page of the site:" }),
    h("div", { class: "code-row" }, h("pre", { class: "code", id: "snippet", text: snippet }), copyButton(() => snippet)),
    h("p", { class: "muted small", text: "Optional calls, queued until the script has loaded:" }),
    h("pre", { class: "code", text: usage }),
  ];
}

function consentSection() {
  return [
    h("p", {}, h("strong", { text: "Cookieless by default. " }),
      "Without consent the tracker stores nothing in the browser. A visitor is counted under a keyed hash of the day’s salt, the site, the IP address and the browser; the salt changes every day and the old one is destroyed, so nobody — you included — can link a visitor across days or sites. The IP address itself is never stored."),
    h("p", {}, h("strong", { text: "With consent. " }), "When your consent banner calls ",
      h("code", { text: "footfall('consent', true)" }),
      ", the tracker keeps a random first-party id in the site’s own storage. That makes returning visitors, paths across days, visitor profiles, notes and tags possible, and lets you answer a visitor’s access and erasure requests. ",
      h("code", { text: "footfall('consent', false)" }), " removes the id again."),
    h("p", { class: "muted small", text: "Do-Not-Track, Global Privacy Control and the installation-wide opt-out page are always honoured: such browsers send nothing." }),
  ];
}

function retentionSection(site) {
  const choices = [30, 60, 90, 180, 270, 360];
  if (!choices.includes(site.retention_days)) choices.push(site.retention_days);
  const status = h("p", { class: "form-status", role: "status" });
  const explain = h("p", { class: "muted" });
  const select = h("select", { name: "days", id: "retention", "aria-label": "Retention", onchange: () => describe() },
    choices.sort((a, b) => a - b).map((d) => h("option", { value: d, text: `${d} days`, selected: d === site.retention_days })));
  const describe = () => {
    const days = Number(select.value);
    explain.textContent = `Raw events — every pageview, click and custom event, visitor profiles and their paths — are deleted once they are ${days} days old, at the latest a day later. The counts in the overview stay for as long as the account exists, so your charts keep their history; filtered reports and visitor profiles reach back ${days} days.`;
  };
  describe();
  const zone = h("input", { name: "timezone", value: site.timezone, list: "zones", "aria-label": "Time zone" });
  const zones = typeof Intl.supportedValuesOf === "function" ? h("datalist", { id: "zones" }, Intl.supportedValuesOf("timeZone").map((z) => h("option", { value: z }))) : null;
  const form = h("form", { class: "stack", id: "retention-form" },
    h("label", { text: "Keep raw visitor data for" }, select), explain,
    h("label", { text: "Time zone of the reports" }, zone, zones),
    h("div", {}, h("button", { type: "submit", class: "button primary", text: "Save" })), status);
  formAction(form, status, async () => {
    const updated = await api(sitePath(site.domain), { method: "PATCH", body: { retention_days: Number(select.value), timezone: zone.value.trim() } });
    Object.assign(site, updated);
    return `Saved: ${updated.retention_days} days, ${updated.timezone}.`;
  });
  return form;
}

const RIGHTS = [
  ["read", "Read reports"], ["visitors", "Visitor data and CRM"], ["erase", "Erase visitors"], ["admin", "Site admin"],
];

/** The account's API tokens and a form for a new one. A new token's secret is shown once,
 * so it goes on screen before anything else can fail; the list is then read again. */
async function tokensSection(holder, site, current) {
  const list = h("div", { id: "token-list" });
  const secretBox = h("div", { id: "token-secret" });
  const status = h("p", { class: "form-status", role: "status" });
  const refresh = async () => {
    const tokens = await api("/api/tokens");
    if (current.alive) setChildren(list, tokensTable(tokens, site, refresh));
  };
  const form = h("form", { class: "token-form", id: "token-form" },
    h("label", { text: "Name" }, h("input", { name: "name", required: true, placeholder: "Weekly report script" })),
    h("label", { text: "Scope" }, h("select", { name: "scope" },
      h("option", { value: "site", text: `Only ${site.domain}` }), h("option", { value: "all", text: "All my sites" }))),
    h("fieldset", { class: "rights" }, h("legend", { text: "Rights" }),
      RIGHTS.map(([right, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "rights", value: right, checked: right === "read" }), label))),
    h("div", {}, h("button", { type: "submit", class: "button primary", text: "Create token" })), status);
  formAction(form, status, async (data) => {
    const rights = data.getAll("rights");
    if (!rights.length) throw new Error("Pick at least one right.");
    const body = { name: String(data.get("name")).trim(), rights };
    if (data.get("scope") === "site") body.sites = [site.domain];
    const created = await api("/api/tokens", { method: "POST", body });
    setChildren(secretBox, tokenSecret(created.secret));
    form.reset();
    await refresh();
  });
  await refresh();
  if (!current.alive) return;
  setChildren(holder,
    h("p", { class: "muted", text: "For scripts and other programs: send Authorization: Bearer <token>. A token carries only the rights and sites you give it." }),
    list, secretBox,
    h("h3", { class: "sub-title", text: "New token" }), form);
}

function tokensTable(tokens, site, refresh) {
  if (!tokens.length) return h("p", { class: "muted", text: "No tokens yet." });
  return h("table", { class: "table" },
    h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Sites" }), h("th", { class: "hide-sm", text: "Rights" }), h("th", { class: "hide-sm", text: "Created" }), h("th", {}))),
    h("tbody", {}, tokens.map((token) => h("tr", {},
      h("td", { class: "strong", text: token.name }),
      h("td", { text: token.sites ? token.sites.join(", ") : "All sites" }),
      h("td", { class: "hide-sm" }, h("span", { class: "tags" }, token.rights.map((r) => h("span", { class: "tag", text: r })))),
      h("td", { class: "hide-sm", text: fmtDateTime(token.created_ms, site.timezone) }),
      h("td", { class: "num" }, confirmButton("Revoke", "Revoke now?", async () => {
        await api(`/api/tokens/${enc(token.id)}`, { method: "DELETE" });
        await refresh();
      }, { class: "button small danger" }))))));
}

function tokenSecret(secret) {
  return h("div", { class: "notice good" },
    h("p", {}, h("strong", { text: "Copy this token now: " }), "it is shown only once."),
    h("div", { class: "code-row" }, h("pre", { class: "code", text: secret }), copyButton(() => secret)));
}

// ---------------------------------------------------------------- GDPR tools

/** What the owner typed: a 16-hex visitor id, an email, or the tracker's client id. */
function identify(text) {
  const value = text.trim();
  if (/^[0-9a-f]{16}$/i.test(value)) return { kind: "visitor", value: value.toLowerCase(), label: "visitor id" };
  if (value.includes("@")) return { kind: "email", value: value.toLowerCase(), label: "email" };
  return { kind: "client_id", value, label: "client id" };
}

async function findVisitors(site, who) {
  if (who.kind !== "visitor") return api(sitePath(site.domain, `/visitors?${who.kind}=${enc(who.value)}`));
  try {
    return [(await api(sitePath(site.domain, `/visitors/${who.value}`))).visitor];
  } catch (e) {
    if (e.status === 404) return [];
    throw e;
  }
}

function gdprSection(site, current) {
  const results = h("div", { id: "gdpr-results" });
  const status = h("p", { class: "form-status", role: "status" });
  const preset = parseRoute(location.hash).query.get("erase") || "";
  const input = h("input", { name: "who", id: "gdpr-who", required: true, value: preset, placeholder: "client id, email or visitor id", "aria-label": "Client id, email or visitor id" });
  const form = h("form", { class: "inline-form", id: "gdpr-form" }, input, h("button", { type: "submit", class: "button primary", text: "Find visitor" }));
  formAction(form, status, async () => {
    const who = identify(input.value);
    setChildren(results, loading());
    const found = await findVisitors(site, who);
    if (!current.alive) return;
    setChildren(results, found.length
      ? found.map((v) => visitorMatch(site, v, who, current))
      : h("div", { class: "notice" }, `No consented visitor matches this ${who.label}. Cookieless visitors are never stored under anything that identifies them, so there is nothing to export or erase for them.`));
  });
  return [
    h("p", { text: "Answer a visitor’s request to see or delete their data. Find them by the client id their browser holds (the footfall_vid value in the site’s local storage), the email they gave, or their visitor id." }),
    form, status, results,
  ];
}

function visitorMatch(site, v, who, current) {
  const receipt = h("div", { class: "receipt-holder" });
  // Erasure goes by what the owner typed, so every device of a person who gave that email is
  // erased, not only the profiles found here.
  const erasure = who.kind === "email" ? { email: who.value } : { visitor: v.visitor };
  return h("div", { class: "match card inset", "data-visitor": v.visitor },
    h("div", { class: "match-head" },
      h("div", {}, h("strong", { text: visitorName(v) }), h("div", { class: "muted small mono", text: v.visitor }),
        h("div", { class: "muted small", text: `${fmtNumber(v.pageviews)} pageviews · last seen ${fmtDateTime(v.last_seen_ms, site.timezone)}` })),
      h("div", { class: "actions" },
        h("a", { class: "button", href: link(["sites", site.domain, "visitors", v.visitor]), text: "Profile" }),
        exportLink(site, v.visitor),
        confirmButton("Erase", "Erase for good?", async () => {
          const answer = await api(sitePath(site.domain, "/erasures"), { method: "POST", body: erasure });
          showReceipt(receipt, site, answer, current);
        }, { id: "erase-button" }, "Erased"))),
    receipt);
}

const RECEIPT_POLL_MS = 2000;
const RECEIPT_RETRY_MAX_MS = 30000;

/** Shows an erasure receipt and polls it until every replica confirmed. A failed check is
 * shown and tried again, waiting twice as long each time: a pending erasure must not look
 * abandoned because one request failed. */
function showReceipt(holder, site, receipt, current) {
  let timer = null;
  onLeave(current, () => clearTimeout(timer));
  function poll(shown, delay) {
    if (shown.status !== "pending" || !shown.visitor) return;
    timer = setTimeout(async () => {
      try {
        const latest = await receiptState(site, shown);
        if (!current.alive) return;
        setChildren(holder, receiptView(latest, site));
        poll(latest, RECEIPT_POLL_MS);
      } catch (e) {
        if (!current.alive) return;
        const retry = Math.min(delay * 2, RECEIPT_RETRY_MAX_MS);
        setChildren(holder, receiptView(shown, site), errorBox(e),
          h("p", { class: "muted small", text: `Trying again in ${retry / 1000} seconds.` }));
        poll(shown, retry);
      }
    }, delay);
  }
  setChildren(holder, receiptView(receipt, site));
  poll(receipt, RECEIPT_POLL_MS);
}

/** The receipt as the replicas report it now; one request may have erased several visitors
 * (every device of one email), each polled by its own id. */
async function receiptState(site, receipt) {
  const states = await Promise.all(receipt.visitor.split(",").map((id) => api(sitePath(site.domain, `/erasures/${enc(id)}`))));
  return Object.assign({}, receipt, {
    status: states.every((r) => r.status === "complete") ? "complete" : "pending",
    replicas: states.flatMap((r) => r.replicas || []),
    pending: [...new Set(states.flatMap((r) => r.pending || []))],
  });
}

function receiptView(receipt, site) {
  const done = receipt.status === "complete";
  return h("div", { class: `receipt ${done ? "done" : receipt.status}`, id: "erasure-receipt", "data-status": receipt.status },
    h("div", { class: "receipt-head" },
      h("span", { class: "receipt-status", id: "erasure-status", text: done ? "Complete" : receipt.status === "pending" ? "Pending" : "Nothing to erase" }),
      h("strong", { text: "Erasure receipt" })),
    h("dl", { class: "facts" },
      receipt.request_id ? fact("Request", receipt.request_id) : null,
      receipt.visitor ? fact("Visitor", receipt.visitor) : null,
      // The fence lies a little ahead of the request: hits stamped by a visitor's clock that
      // runs fast are refused up to it too.
      receipt.erased_at_ms ? fact("Refuses events up to", fmtDateTime(receipt.erased_at_ms, site.timezone)) : null,
      fact("Events deleted", fmtNumber(receipt.deleted_events)),
      (receipt.replicas || []).length ? fact("Confirmed by", receipt.replicas.map((r) => `${r.node} (${fmtTime(r.confirmed_at_ms, site.timezone)})`).join(", ")) : null,
      (receipt.pending || []).length ? fact("Waiting for", receipt.pending.join(", ")) : null),
    receipt.note ? h("p", { class: "muted small", text: receipt.note }) : null,
    receipt.status === "pending" ? h("p", { class: "muted small" }, h("span", { class: "spinner" }), "Checking again until every replica confirmed…") : null);
}

// ---------------------------------------------------------------- Cluster (operators)

async function clusterView(main, current) {
  const body = h("div", { id: "cluster" }, loading());
  setChildren(main, h("div", { class: "page-head" }, h("h1", { text: "Cluster" }), h("span", { class: "muted small", text: "refreshes every 5 seconds" })), body);
  let timer = null;
  onLeave(current, () => clearTimeout(timer));
  async function tick() {
    try {
      const overview = await api("/api/cluster");
      if (current.alive) setChildren(body, clusterState(overview));
    } catch (e) {
      if (current.alive) setChildren(body, errorBox(e));
    }
    if (current.alive) timer = setTimeout(tick, 5000);
  }
  await tick();
}

/** GET /api/cluster: the members as the answering node sees them, and that node's own hints
 * and repair state. */
function clusterState(overview) {
  const self = overview.answered_by;
  return h("div", { class: "stack" },
    h("p", { class: "muted small", id: "cluster-summary",
      text: `As seen by ${self} · ring epoch ${overview.ring_epoch} · replication factor ${overview.replication_factor}` }),
    card("Members", membersTable(overview.members)),
    h("div", { class: "grid two" },
      card("Ring ownership", h("div", { id: "ring" }, ringShares(overview.members))),
      card(`Hints held by ${self}`, h("div", { id: "hints" }, hintsList(overview.hints_pending)))),
    card(`Repair of ${self}`, h("div", { id: "repair" }, repairFacts(overview.repair))));
}

function membersTable(members) {
  if (!members.length) return h("p", { class: "muted", text: "No members reported." });
  return h("table", { class: "table", id: "members" },
    h("thead", {}, h("tr", {},
      h("th", { text: "Node" }), h("th", { class: "hide-sm", text: "Address" }), h("th", { text: "State" }),
      h("th", { class: "hide-sm num", text: "Incarnation" }), h("th", { text: "Ownership" }))),
    h("tbody", {}, members.map((m) => h("tr", { "data-member": m.name },
      h("td", { class: "strong" }, m.name, m.answering_node ? h("span", { class: "muted small", text: " (this node)" }) : null),
      h("td", { class: "hide-sm mono small", text: m.address }),
      // alive, suspect, dead or left: what the membership protocol last heard.
      h("td", {}, h("span", { class: `state state-${m.status}`, text: m.status })),
      h("td", { class: "hide-sm num", text: String(m.incarnation) }),
      // joining, normal, leaving or removed; none while the member holds no ranges yet.
      h("td", { class: m.ownership ? null : "muted", text: m.ownership || "none yet" })))));
}

/** Each member's part of the ring as first replica, largest first. */
function ringShares(members) {
  const owners = members.filter((m) => m.primary_share > 0).sort((a, b) => b.primary_share - a.primary_share);
  if (!owners.length) return h("p", { class: "muted", text: "No member owns ranges of the ring yet." });
  return barTable(owners.map((m) => ({ value: m.name, count: m.primary_share * 100 })),
    { dimension: "node", metric: "Share", format: (percent) => `${Math.round(percent)}%` });
}

function hintsList(hints) {
  const waiting = Object.entries(hints).filter(([, count]) => count > 0);
  if (!waiting.length) return h("p", { class: "muted", text: "No hints waiting: every replica took its writes." });
  return [
    h("p", { class: "muted small", text: "Writes and erasures kept for replicas that missed them, handed over when they answer again." }),
    h("dl", { class: "facts" }, waiting.map(([node, count]) => fact(node, `${fmtNumber(count)} waiting`))),
  ];
}

function repairFacts(repair) {
  const lastPass = repair.last_pass_ms !== undefined; // absent until this node's first pass
  return h("dl", { class: "facts" },
    fact("State", repair.needed ? "missed writes no hint holds: serves no reads of its own until repaired" : "up to date"),
    fact("Repair pass", repair.running ? "running now" : "not running"),
    fact("Last pass", lastPass ? fmtDateTime(repair.last_pass_ms) : "none yet"),
    lastPass ? fact("Events streamed", fmtNumber(repair.last_pass_events_streamed)) : null,
    repair.last_pass_unreachable.length ? fact("Unreachable in the last pass", repair.last_pass_unreachable.join(", ")) : null);
}

window.addEventListener("hashchange", render);
loadSession().then(render, (e) => setChildren(document.getElementById("app"), h("main", { class: "page" }, errorBox(e))));
