/* Routes live in the URL's hash, so every view can be bookmarked and the node serves one page.
 * Pure functions of the hash, unit-tested by Tests/Dashboard. */

/** The route in the hash: `#/sites/example.com/overview?from=…&filter.page=/x`. */
export function parseRoute(hash) {
  const raw = hash.replace(/^#/, "");
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  const parts = path.split("/").filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch (e) { return p; } });
  return { parts, query };
}

/** The hash of a route: each part encoded, the query as URL parameters. */
export function link(parts, query) {
  const params = new URLSearchParams(query || {}).toString();
  return "#/" + parts.map(encodeURIComponent).join("/") + (params ? "?" + params : "");
}
