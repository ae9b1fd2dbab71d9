// The dashboard's routes (Sources/FootfallHTTP/Static/app/routing.js), run by `node --test` in
// `make test`: every view is a hash that survives a round trip, whatever a site or filter holds.
import assert from "node:assert/strict";
import { test } from "node:test";

import { link, parseRoute } from "../../Sources/FootfallHTTP/Static/app/routing.js";

test("a hash gives the route's parts and its query", () => {
  const { parts, query } = parseRoute("#/sites/example.com/overview?from=2026-03-01&to=2026-03-07&filter.page=%2Fpricing");
  assert.deepEqual(parts, ["sites", "example.com", "overview"]);
  assert.equal(query.get("from"), "2026-03-01");
  assert.equal(query.get("filter.page"), "/pricing");
});

test("an empty or bare hash is the root route", () => {
  for (const hash of ["", "#", "#/", "#//"]) {
    const { parts, query } = parseRoute(hash);
    assert.deepEqual(parts, [], hash);
    assert.equal([...query].length, 0, hash);
  }
});

test("links round-trip parts that hold slashes, spaces, '?' and '#', and any query", () => {
  const parts = ["sites", "shop.example", "visitors", "a/b c?d#e"];
  const query = { "filter.page": "/p?q=1&r=2", next: "#/sites/x/overview" };
  const hash = link(parts, query);
  assert.ok(hash.startsWith("#/sites/shop.example/visitors/"), hash);
  const parsed = parseRoute(hash);
  assert.deepEqual(parsed.parts, parts);
  assert.deepEqual(Object.fromEntries(parsed.query), query);
});

test("a link without a query has no '?'", () => {
  assert.equal(link(["account"]), "#/account");
  assert.equal(link(["account"], {}), "#/account");
});

test("a part that is not valid percent-encoding is kept as it was typed", () => {
  assert.deepEqual(parseRoute("#/sites/%E0%A4%A/overview").parts, ["sites", "%E0%A4%A", "overview"]);
});
