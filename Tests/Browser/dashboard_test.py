#!/usr/bin/env python3
"""Browser checks of the dashboard and the tracker, run by `make test`.

Starts one `footfall serve` process (temp data folder, free ports) with two site owners and an
operator made by the CLI, and a separate static server (another origin, like a customer's site)
whose pages carry the tracker. Debian's headless chromium, driven by selenium, then:
  1. signs in through the UI; a pageview sent by the customer page appears in the live feed
     without a reload;
  2. filters the overview by clicking a page row (a filter chip appears, the pageviews are those
     of that page);
  3. opens a consented visitor's profile and adds a note (shown, and in the API);
  4. erases that visitor in the GDPR tools and sees the receipt complete; the visitor's browser,
     still holding the erased id, is told to forget it, and its next consent starts a new one;
  5. markup a visitor sent (in a path, in an event name) shows as text and never runs;
  6. a second owner sees nothing of the first owner's site, in the UI and the API; an operator
     sees the member alive and owning the ring;
  7. the tracker writes no cookie or storage before consent, keeps a first-party id after
     footfall('consent', true), and loads but sends nothing with Do-Not-Track or after the
     opt-out; what was sent is observed through CDP network events and the node's realtime API;
  8. one sign-in streams the live view to at most four tabs; a fifth polls;
  9. no console errors; no horizontal scroll at 1280×800 or 390×844.
Screenshots of the main screens go to .build/browser/screenshots/. Prints one line per check;
exits non-zero on any failure.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness import credentials, waits, web  # noqa: E402
from footfall_harness.checks import check, failures  # noqa: E402
from footfall_harness.ports import free_port  # noqa: E402
from footfall_harness.process import Process  # noqa: E402

# A desktop browser's User-Agent: the node drops hits from "HeadlessChrome" as a bot.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
OWNER1, OWNER2, OPERATOR = "owner1@shop.test", "owner2@other.test", "ops@footfall.test"
PASSWORD = "correct horse battery"
SITE1, SITE2 = "shop.test", "other.test"


def wait_for(condition, timeout, interval=0.2):
    """`waits.wait_for`, a browser's errors counting as "not yet" too."""
    return waits.wait_for(condition, timeout, interval, ignoring=waits.NOT_YET + (WebDriverException,))


# ---------------------------------------------------------------- the node and the customer site

class Node:
    def __init__(self, binary, folder):
        self.binary, self.folder = binary, folder
        self.data = os.path.join(folder, "data")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = Process(os.path.join(folder, "node.log"))

    def cli(self, *args):
        return subprocess.run([self.binary, *args, "--data", self.data], check=True, capture_output=True, text=True).stdout

    def prepare(self):
        """Accounts and sites are made by the CLI before the first start (it needs the node stopped)."""
        for email, extra in [(OWNER1, []), (OWNER2, []), (OPERATOR, ["--operator"])]:
            self.cli("account", "create", "--email", email, "--password", PASSWORD, *extra)
        self.cli("site", "add", "--domain", SITE1, "--owner", OWNER1)
        self.cli("site", "add", "--domain", SITE2, "--owner", OWNER2)

    def start(self):
        self.process.start([self.binary, "serve", "--data", self.data, "--port", str(self.port), "--grpc-port", "0",
                            "--cluster-port", str(free_port()), "--node-name", "node-1", "--replication-factor", "1"])
        healthy = wait_for(lambda: web.salted(self.base), 60)
        if not healthy:
            raise SystemExit(f"the node did not become healthy; see {self.folder}/node.log")

    def stop(self):
        self.process.stop(timeout=10)


class APISession:
    """An owner's dashboard session used by the test itself, to check what the API holds."""

    def __init__(self, base, email):
        self.base = base
        self.cookie, _ = credentials.login(base, email, PASSWORD)

    def get(self, path):
        return web.call_json(self.base + path, headers={"Cookie": self.cookie})

    def feed_paths(self, site=SITE1):
        status, snapshot = self.get(f"/api/sites/{site}/realtime")
        return [item["path"] for item in snapshot["feed"]] if status == 200 else []


CUSTOMER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="data:,">
<script>window.footfall = window.footfall || function () {{ (window.footfall.q = window.footfall.q || []).push(arguments); }};</script>
<script defer data-site="{site}" src="{node}/t.js"></script></head>
<body><h1>{title}</h1><p>A customer's page carrying the Footfall tracker.</p>
<button id="accept" onclick="footfall('consent', true)">Accept analytics</button></body></html>
"""


def serve_customer_site(folder, node_base):
    """A plain static server on its own port: a different origin from the node, like a customer's site."""
    pages = os.path.join(folder, "site")
    os.makedirs(pages)
    for name in ["landing", "pricing", "consented", "returning", "dnt", "after-optout"]:
        with open(os.path.join(pages, name + ".html"), "w") as f:
            f.write(CUSTOMER_PAGE.format(title=name.title(), site=SITE1, node=node_base))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=pages, **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------- the browser

def browser(options_in, prefs=None):
    options = webdriver.ChromeOptions()
    options.binary_location = options_in.chromium
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
                f"--user-agent={USER_AGENT}", "--no-first-run", "--disable-features=Translate,OptimizationHints"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=options_in.chromedriver))
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def sent_requests(driver):
    """(method, url, body) of every request the browser sent since the last call, from CDP's
    network events (what left the browser, not what the page says)."""
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request = message["params"]["request"]
            requests.append((request["method"], request["url"], request.get("postData", "")))
    return requests


def hits_in(requests, node_base):
    """Bodies of the requests to the node's collect endpoint."""
    return [body for method, url, body in requests if method == "POST" and url.startswith(node_base + "/api/event")]


def sent_hits(driver, node_base):
    return hits_in(sent_requests(driver), node_base)


def tracker_loaded(requests, node_base):
    """Whether the page asked the node for its tracker: without it, "nothing sent" proves nothing."""
    return any(method == "GET" and url.split("?")[0] == node_base + "/t.js" for method, url, _ in requests)


def post_hits(node_base, hits):
    """Hits sent straight to the collect endpoint, as any script on the internet may."""
    return web.call(node_base + "/api/event", "POST", hits, {"User-Agent": USER_AGENT})[0]


console_errors = []


def collect_console(driver, who, allowed):
    """JS errors and failed loads from the browser log; `allowed` are (url part, status) pairs
    the test itself provokes (the login page asking /api/me while signed out)."""
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if any(part in entry["message"] and f"status of {status}" in entry["message"] for part, status in allowed):
            continue
        console_errors.append(f"{who}: {entry['message'][:300]}")


def screenshot(driver, folder, name):
    """A full-page PNG (beyond the viewport, so whole tables show), from the top so the sticky
    header stays where it belongs."""
    driver.execute_script("window.scrollTo(0, 0)")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    with open(os.path.join(folder, name + ".png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def layout_check(driver, what):
    """No horizontal scroll, and the metric cards (the densest row) do not overlap."""
    width, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    overlaps = driver.execute_script("""
        const boxes = [...document.querySelectorAll('.kpi, .card, .topbar a, .topbar select, .topbar button')]
          .map(e => e.getBoundingClientRect()).filter(r => r.width && r.height);
        let n = 0;
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i], b = boxes[j];
          const inside = (a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom) ||
                         (b.left >= a.left && b.right <= a.right && b.top >= a.top && b.bottom <= a.bottom);
          if (!inside && a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) n++;
        }
        return n;""")
    check(width <= inner and overlaps == 0, f"{what}: no horizontal scroll (content {width} px, window {inner} px) and no overlapping cards ({overlaps})")


def element(driver, css, timeout=10):
    return wait_for(lambda: next(iter(e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None), timeout)


def text_of(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def texts_of(driver, css):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def sign_in(driver, base, email):
    driver.get(base + "/#/login")
    element(driver, "#login-form input[name=email]").send_keys(email)
    driver.find_element(By.CSS_SELECTOR, "#login-form input[name=password]").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    return wait_for(lambda: driver.find_elements(By.ID, "sign-out"), 10)


def consented_visitor(site, client_id):
    """The node's visitor id for a tracker's consented client id (VisitorID.consented)."""
    return hashlib.sha256(f"footfall.visitor\0{site}\0{client_id}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------- the checks

def dashboard_and_tracker_checks(options, node, site_base, shots):
    owner = APISession(node.base, OWNER1)
    dash = browser(options)
    visitor = browser(options)  # a fresh profile: the customer site's visitor
    try:
        # Sign in through the UI.
        dash.get(node.base + "/")
        element(dash, "#login-form")
        screenshot(dash, shots, "01-login")
        signed_in = sign_in(dash, node.base, OWNER1)
        check(bool(signed_in), "the owner signs in through the login form")
        dash.get(f"{node.base}/#/sites/{SITE1}/realtime")
        check(bool(element(dash, "#live-feed")), "the realtime view opens with its live feed")
        dash.execute_script("window.__notReloaded = true;")

        # Before consent: a pageview is sent, and nothing is stored in the browser.
        visitor.get(site_base + "/landing.html")
        sent = wait_for(lambda: sent_hits(visitor, node.base), 10)
        check(bool(sent), "the customer page's tracker sends its pageview (seen in CDP network events)")
        check(wait_for(lambda: "/landing.html" in owner.feed_paths(), 10) is not None, "the node's realtime API has the pageview")
        cookies = visitor.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        storage = visitor.execute_script("return [localStorage.length, sessionStorage.length]")
        check(cookies == [] and storage == [0, 0],
              f"before consent: no cookie on any host ({[c['name'] for c in cookies]}) and no local/session storage ({storage})")

        # The pageview reaches the open dashboard by itself.
        live = wait_for(lambda: "/landing.html" in [e.text for e in dash.find_elements(By.CSS_SELECTOR, "#live-feed .path")], 10)
        kept = dash.execute_script("return window.__notReloaded === true")
        check(bool(live) and kept, "the pageview appears in the dashboard's live feed without a reload")
        state = text_of(dash, "#live-state")
        check(state == "Live", f"the live feed is pushed by server-sent events (state shown: {state!r})")
        screenshot(dash, shots, "02-realtime")

        # Consent: a first-party id, then hits carrying it.
        visitor.find_element(By.ID, "accept").click()
        client_id = visitor.execute_script("return localStorage.getItem('footfall_vid')")
        check(bool(re.fullmatch(r"[0-9a-f]{32}", client_id or "")), f"after footfall('consent', true): a first-party id in localStorage ({client_id})")
        cookies = visitor.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        check(cookies == [], "after consent: still no cookie (the id lives in the site's own storage)")
        sent_hits(visitor, node.base)
        visitor.get(site_base + "/pricing.html")
        visitor.get(site_base + "/consented.html")
        bodies = wait_for(lambda: [b for b in sent_hits(visitor, node.base) if "consented.html" in b], 10) or []
        check(any(json.loads(b).get("vid") == client_id and json.loads(b).get("consent") is True for b in bodies),
              "consented hits carry the first-party id")
        visitor_id = consented_visitor(SITE1, client_id)
        check(wait_for(lambda: owner.get(f"/api/sites/{SITE1}/visitors/{visitor_id}")[0] == 200, 10) is not None,
              f"the consented visitor {visitor_id} is in the API")

        overview_checks(dash, node, shots)
        profile_checks(dash, node, owner, visitor_id, shots)
        erasure_checks(dash, node, owner, client_id, visitor_id, shots)
        erased_id_checks(visitor, owner, site_base, client_id)
        markup_checks(dash, node, owner, site_base)
        opt_out_checks(visitor, node, owner, site_base)
        live_stream_limit_checks(dash, node)
        collect_console(dash, "dashboard", [("/api/me", 401)])
        collect_console(visitor, "customer page", [])
    finally:
        dash.quit()
        visitor.quit()


def overview_checks(dash, node, shots):
    dash.get(f"{node.base}/#/sites/{SITE1}/overview")
    row = element(dash, "[data-panel=page] .bar-row.pick[data-value='/pricing.html']")
    before = wait_for(lambda: text_of(dash, "[data-kpi=pageviews] .kpi-value"), 10) or ""
    check(row is not None and before not in ("", "0"), f"the overview shows pageviews ({before}) and a row for /pricing.html")
    check(bool(element(dash, ".chart-svg .series-line")), "the overview draws its timeseries chart")
    layout_check(dash, "overview at 1280×800")
    screenshot(dash, shots, "03-overview")
    if row is None:
        return
    row.click()
    chip = element(dash, "#filters .chip[data-dimension=page]")
    check(chip is not None and "/pricing.html" in chip.text, "clicking the page row adds a removable filter chip")
    # The visitor opened /pricing.html once.
    after = wait_for(lambda: text_of(dash, "[data-kpi=pageviews] .kpi-value") == "1", 10)
    check(bool(after), f"the filtered pageviews are those of /pricing.html: 1 (shown: {text_of(dash, '[data-kpi=pageviews] .kpi-value')!r}, unfiltered {before})")
    check("filter.page=%2Fpricing.html" in dash.current_url or "filter.page=/pricing.html" in dash.current_url,
          "the filter is in the address, so the filtered view can be reloaded")
    screenshot(dash, shots, "04-overview-filtered")
    # A phone's viewport through CDP: headless chromium keeps a window at least 500 px wide.
    dash.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    dash.refresh()
    check(element(dash, "[data-kpi=pageviews]") is not None and element(dash, ".chart-svg") is not None,
          "the filtered overview shows its figures and chart at phone width")
    layout_check(dash, "filtered overview at phone width 390×844")
    screenshot(dash, shots, "09-overview-phone")
    dash.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def profile_checks(dash, node, owner, visitor_id, shots):
    dash.get(f"{node.base}/#/sites/{SITE1}/visitors")
    row = element(dash, f"#visitors tr[data-visitor='{visitor_id}']")
    check(row is not None, "the consented visitor is listed under Visitors")
    layout_check(dash, "visitors at 1280×800")
    screenshot(dash, shots, "05-visitors")
    if row is None:
        return
    row.click()
    element(dash, "#timeline")
    # A reload keeps the session but not the in-memory CSRF token: the app must recover it.
    dash.refresh()
    timeline = element(dash, "#timeline")
    paths = texts_of(dash, "#timeline .path")
    check(timeline is not None and "/consented.html" in paths, f"the profile shows the visitor's path ({paths})")
    note_field = element(dash, "#note-form textarea")
    if not check(note_field is not None, "the profile has its note form"):
        return
    note = "Asked about bulk pricing by phone"
    note_field.send_keys(note)
    dash.find_element(By.CSS_SELECTOR, "#note-form button[type=submit]").click()
    shown = wait_for(lambda: note in [e.text for e in dash.find_elements(By.CSS_SELECTOR, "#notes .note-text")], 10)
    check(bool(shown), "the added note shows on the profile")
    status, profile = owner.get(f"/api/sites/{SITE1}/visitors/{visitor_id}")
    check(status == 200 and note in [n["text"] for n in profile["visitor"]["notes"]], "the note is in the API")
    layout_check(dash, "visitor profile at 1280×800")
    screenshot(dash, shots, "06-visitor-profile")


def erasure_checks(dash, node, owner, client_id, visitor_id, shots):
    dash.get(f"{node.base}/#/sites/{SITE1}/settings")
    element(dash, "#snippet")
    snippet = text_of(dash, "#snippet")
    check(f'data-site="{SITE1}"' in snippet and f'src="{node.base}/t.js"' in snippet, f"settings show the tracker snippet ({snippet})")
    layout_check(dash, "settings at 1280×800")
    screenshot(dash, shots, "07-settings")
    field = dash.find_element(By.ID, "gdpr-who")
    field.send_keys(client_id)
    dash.find_element(By.CSS_SELECTOR, "#gdpr-form button[type=submit]").click()
    match = element(dash, f"#gdpr-results .match[data-visitor='{visitor_id}']")
    check(match is not None, "the GDPR tools find the visitor by the client id from their browser")
    if match is None:
        return
    erase = match.find_element(By.ID, "erase-button")
    erase.click()  # asks once more
    erase.click()
    receipt = wait_for(lambda: dash.find_element(By.ID, "erasure-receipt").get_attribute("data-status") == "complete"
                       and dash.find_element(By.ID, "erasure-receipt"), 20)
    check(receipt is not None and "node-1" in receipt.text, "the erasure receipt is shown, complete, confirmed by node-1")
    status, _ = owner.get(f"/api/sites/{SITE1}/visitors/{visitor_id}")
    check(status == 404, f"the erased visitor is gone from the API ({status})")
    screenshot(dash, shots, "08-erasure-receipt")


def live_stream_limit_checks(dash, node):
    """One sign-in holds at most 4 live streams: a fifth tab on the realtime view is told the
    node is busy and polls instead, while the first four stay live."""
    dash.get(f"{node.base}/#/sites/{SITE1}/settings")  # a view without a stream of its own
    element(dash, "#snippet")
    main = dash.current_window_handle
    tabs = []
    for _ in range(5):
        dash.switch_to.new_window("tab")
        tabs.append(dash.current_window_handle)
        dash.get(f"{node.base}/#/sites/{SITE1}/realtime")
        wait_for(lambda: text_of(dash, "#live-state").startswith("Live"), 10)
    states = []
    for tab in tabs:
        dash.switch_to.window(tab)
        states.append(text_of(dash, "#live-state"))
    check(states == ["Live"] * 4 + ["Live (polling)"],
          f"four tabs of one sign-in stream live, the fifth polls ({states})")
    for tab in tabs:
        dash.switch_to.window(tab)
        dash.close()
    dash.switch_to.window(main)


def erased_id_checks(visitor, owner, site_base, old_id):
    """The erased visitor's browser still holds its id: its next hit is refused for good and the
    tracker forgets the id; the visitor's next consent starts a new one, which is counted."""
    visitor.get(site_base + "/returning.html")
    forgotten = wait_for(lambda: visitor.execute_script("return localStorage.getItem('footfall_vid')") is None, 10)
    check(forgotten is not None, "the erased id's next hit is refused, and the tracker forgets the id")
    visitor.find_element(By.ID, "accept").click()
    new_id = visitor.execute_script("return localStorage.getItem('footfall_vid')")
    check(bool(re.fullmatch(r"[0-9a-f]{32}", new_id or "")) and new_id != old_id, f"the next consent starts a new id ({new_id})")
    visitor.get(site_base + "/pricing.html")
    renewed = consented_visitor(SITE1, new_id or "")
    check(wait_for(lambda: owner.get(f"/api/sites/{SITE1}/visitors/{renewed}")[0] == 200, 10) is not None,
          "the new id's visits are counted")
    status, _ = owner.get(f"/api/sites/{SITE1}/visitors/{consented_visitor(SITE1, old_id)}")
    check(status == 404, f"the erased visitor did not come back ({status})")


MARKUP = "<img src=x onerror=window.__x=1>"


def markup_checks(dash, node, owner, site_base):
    """What visitors send reaches the page as text. A path with markup arrives percent-encoded,
    as a browser sends its address; an event name is sent as it is, so the markup itself
    reaches the node."""
    dash.get(f"{node.base}/#/sites/{SITE1}/realtime")
    element(dash, "#live-feed")
    encoded = dash.execute_script("return new URL(arguments[0], location.origin).pathname", "/" + MARKUP)
    status = post_hits(node.base, [{"site": SITE1, "kind": "pageview", "url": site_base + encoded},
                                   {"site": SITE1, "kind": "custom", "name": MARKUP, "url": site_base + encoded}])
    stored = wait_for(lambda: next((p for p in owner.feed_paths() if "onerror" in p), None), 10)
    check(status == 202 and stored == encoded, f"the node keeps the path as the browser encoded it ({encoded!r}, stored {stored!r})")

    def not_run():
        return dash.execute_script("return window.__x === undefined && !document.querySelector('#app img')")
    shown = wait_for(lambda: stored in texts_of(dash, "#live-feed .path") and MARKUP in texts_of(dash, "#live-feed .feed-what strong"), 10)
    check(bool(shown) and not_run(), "the live feed shows the path and the event name's markup as text, and runs none of it")
    dash.get(f"{node.base}/#/sites/{SITE1}/overview")
    pages = wait_for(lambda: stored in texts_of(dash, "[data-panel=page] .bar-text"), 10)
    goals = wait_for(lambda: MARKUP in texts_of(dash, "[data-panel=event] .bar-text"), 10)
    check(bool(pages) and bool(goals) and not_run(), "the overview shows the path and the event name as text, and runs none of it")


def opt_out_checks(visitor, node, owner, site_base):
    visitor.get(node.base + "/optout")
    visitor.find_element(By.CSS_SELECTOR, "form button[value=optout]").click()
    opted = wait_for(lambda: "opted out" in visitor.find_element(By.TAG_NAME, "body").text, 10)
    check(bool(opted), "the visitor opts out on the installation's opt-out page")
    sent_requests(visitor)
    visitor.get(site_base + "/after-optout.html")
    check_nothing_sent(visitor, node, owner, "/after-optout.html", "after the opt-out")


def check_nothing_sent(driver, node, owner, page, when):
    """The page loaded the tracker (so silence is its doing) and no hit left the browser or
    reached the node."""
    time.sleep(3)
    requests = sent_requests(driver)
    loaded, sent = tracker_loaded(requests, node.base), hits_in(requests, node.base)
    check(loaded and sent == [] and page not in owner.feed_paths(),
          f"{when} the page loads the tracker (/t.js requested: {loaded}) but nothing is sent "
          f"({len(sent)} hits left the browser) and the node has no such pageview")


def do_not_track_checks(options, node, site_base):
    owner = APISession(node.base, OWNER1)
    dnt = browser(options, prefs={"enable_do_not_track": True})
    try:
        dnt.get(site_base + "/dnt.html")
        header_dnt = dnt.execute_script("return navigator.doNotTrack")
        check(header_dnt == "1", f"the Do-Not-Track browser says so (navigator.doNotTrack = {header_dnt!r})")
        check_nothing_sent(dnt, node, owner, "/dnt.html", "with Do-Not-Track")
        collect_console(dnt, "do-not-track page", [])
    finally:
        dnt.quit()


def tenancy_checks(options, node):
    """A second owner sees nothing of the first owner's site; an operator sees the cluster."""
    second = APISession(node.base, OWNER2)
    status, _ = second.get(f"/api/sites/{SITE1}/summary")
    check(status in (403, 404), f"the second owner's session gets {status} for the first owner's summary")
    status, sites = second.get("/api/sites")
    check(status == 200 and [s["domain"] for s in sites] == [SITE2], "the second owner's site list holds only their own site")
    dash = browser(options)
    try:
        sign_in(dash, node.base, OWNER2)
        element(dash, "#site-picker")
        choices = [o.get_attribute("value") for o in dash.find_elements(By.CSS_SELECTOR, "#site-picker option") if o.get_attribute("value")]
        check(choices == [SITE2], f"the second owner's site picker holds only their site ({choices})")
        check(not dash.find_elements(By.CSS_SELECTOR, "a[href='#/cluster']"), "an owner without the operator principal has no Cluster link")
        dash.get(f"{node.base}/#/sites/{SITE1}/overview")
        error = element(dash, ".notice.error")
        check(error is not None and SITE1 in error.text and not dash.find_elements(By.CSS_SELECTOR, "[data-kpi]"),
              "the first owner's site by direct URL shows an error, no figures")
        dash.find_element(By.ID, "sign-out").click()
        check(bool(element(dash, "#login-form")), "signing out returns to the login form")
        sign_in(dash, node.base, OPERATOR)
        dash.get(node.base + "/#/cluster")
        state = wait_for(lambda: text_of(dash, "#members tr[data-member='node-1'] .state"), 10)
        check(state == "alive", f"an operator's Cluster page lists node-1 as alive ({state!r})")
        ring = element(dash, "#ring .bar-row[data-value='node-1']")
        share = ring.text if ring else None
        check(ring is not None and "100%" in share, f"the ring card has node-1 owning the whole ring, as the only node ({share!r})")
        collect_console(dash, "second owner and operator", [("/api/me", 401)])
    finally:
        dash.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("footfall_positional", nargs="?", help="the footfall binary (same as --footfall)")
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--screenshots", default=os.path.join(ROOT, ".build/browser/screenshots"))
    options = parser.parse_args()
    binary = os.path.abspath(options.footfall_positional or options.footfall)
    os.makedirs(options.screenshots, exist_ok=True)

    folder = tempfile.mkdtemp(prefix="footfall-browser-")
    node = Node(binary, folder)
    site_server = None
    try:
        node.prepare()
        node.start()
        site_server, site_base = serve_customer_site(folder, node.base)
        dashboard_and_tracker_checks(options, node, site_base, options.screenshots)
        do_not_track_checks(options, node, site_base)
        tenancy_checks(options, node)
        check(console_errors == [], "no console errors in any page" + "".join("\n       " + e for e in console_errors))
    finally:
        if site_server:
            site_server.shutdown()
        node.stop()
        if failures:
            print(f"node log kept in {folder}/node.log")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"screenshots in {options.screenshots}")
    if failures:
        print(f"{len(failures)} browser check(s) failed")
        sys.exit(1)
    print("browser checks passed")


if __name__ == "__main__":
    main()
