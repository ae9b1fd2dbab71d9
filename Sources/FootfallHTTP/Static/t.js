/* Footfall tracker: no cookies, no storage until footfall('consent', true). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var site = script.getAttribute("data-site");
  var endpoint = script.src.replace(/\/t\.js(\?.*)?$/, "") + "/api/event";
  var KEY = "footfall_vid";
  var vid = null;
  try { vid = window.localStorage.getItem(KEY); } catch (e) { vid = null; }

  function declined() {
    return navigator.doNotTrack === "1" || window.doNotTrack === "1" || navigator.globalPrivacyControl === true;
  }
  function randomID(bytes) {
    var a = new Uint8Array(bytes);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  // A hit keeps its id and timestamp across retries, so the server counts it once.
  function send(hit, attempt) {
    if (declined()) return;
    fetch(endpoint, {
      method: "POST", body: JSON.stringify(hit), keepalive: true, credentials: "include",
      headers: { "Content-Type": "text/plain" }
    }).then(function (r) {
      if (r.status >= 500 || r.status === 429) { retry(hit, attempt); return; }
      // The visitor was erased: their id is refused for good, so forget it; the next consent
      // starts a new one.
      r.json().then(function (answer) { if (answer && answer.renew_vid && hit.vid === vid) forget(); }, function () {});
    }, function () { retry(hit, attempt); });
  }
  function forget() {
    vid = null;
    try { window.localStorage.removeItem(KEY); } catch (e) { /* storage blocked: nothing was kept */ }
  }
  function retry(hit, attempt) {
    if (attempt < 3) setTimeout(function () { send(hit, attempt + 1); }, 1000 * Math.pow(2, attempt + 1));
  }
  function hit(kind, fields) {
    var h = { site: site, id: randomID(12), ts: Date.now(), kind: kind, url: location.href };
    if (vid) { h.consent = true; h.vid = vid; }
    for (var k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) h[k] = fields[k];
    send(h, 0);
  }

  var lastPath = null;
  var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
  var engaged = 0;
  function engagement() {
    if (visibleSince !== null) { engaged += Date.now() - visibleSince; visibleSince = Date.now(); }
    if (engaged >= 1000) { hit("engagement", { engagement_ms: Math.round(engaged) }); }
    engaged = 0;
  }
  function pageview() {
    var path = location.pathname + location.search;
    if (path === lastPath) return;
    if (lastPath !== null) engagement();
    lastPath = path;
    hit("pageview", { referrer: document.referrer || "", title: document.title });
  }

  // Single-page apps: a history change is a new page.
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () { var r = original.apply(this, arguments); pageview(); return r; };
  });
  window.addEventListener("popstate", pageview);

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { visibleSince = Date.now(); }
    else { engagement(); visibleSince = null; }
  });
  setInterval(function () { if (document.visibilityState === "visible") engagement(); }, 30000);

  document.addEventListener("click", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("a[href],button,[data-footfall-event]") : null;
    if (!el) return;
    if (el.tagName === "A" && el.host && el.host !== location.host) {
      hit("click", { name: "outbound", target: el.host });
    } else if (el.tagName === "BUTTON" || el.hasAttribute("data-footfall-event")) {
      var label = el.getAttribute("data-footfall-event") || el.textContent || "";
      hit("click", { name: "button", target: label.trim().slice(0, 50) });
    }
  }, true);

  var api = function (command, a, b) {
    if (command === "event") { hit("custom", { name: String(a), props: b || {} }); }
    else if (command === "consent") {
      try {
        if (a) { vid = vid || randomID(16); window.localStorage.setItem(KEY, vid); }
        else { forget(); }
      } catch (e) { vid = null; }
    } else if (command === "identify") {
      if (vid) hit("identify", { pii: { name: a && a.name, email: a && a.email, phone: a && a.phone } });
    }
  };
  var queued = (window.footfall && window.footfall.q) || [];
  window.footfall = api;
  queued.forEach(function (args) { api.apply(null, args); });
  pageview();
})();
