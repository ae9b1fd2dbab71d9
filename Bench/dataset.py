"""The benchmark's events: one seeded synthetic data set that every contender loads.

Pageview-like events over `days` days ending at the start of today (UTC) for `sites` sites whose
sizes are skewed (Zipf, s = 0.9: the biggest site holds ~15 % of 10 M events over 100 sites), with
visitors (about one per five events), 1,000 paths, 200 referrers (a third of events have one), 50
countries and real user agents, each popularity-skewed as on real sites. The same seed and size
make the same rows (relative to the day it runs); the file is cached under that name.
"""
import csv
import datetime
import itertools
import os
import random

COLUMNS = ["site", "ts_ms", "visitor", "path", "referrer", "country", "browser", "os", "device", "user_agent"]
COUNTRIES = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "IT", "PL", "SE", "AU", "MX", "KR", "TR",
             "ID", "CH", "AT", "BE", "DK", "NO", "FI", "IE", "PT", "CZ", "RO", "HU", "GR", "IL", "ZA", "AR", "CL",
             "CO", "NZ", "SG", "MY", "TH", "VN", "PH", "EG", "NG", "KE", "UA", "SK", "BG", "HR", "SI", "LT"]
# (user agent, browser, os, device), most common first.
AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     "Chrome", "Windows", "desktop"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
     "Safari", "iOS", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
     "Chrome", "Android", "mobile"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
     "Safari", "macOS", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
     "Edge", "Windows", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Linux", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Windows", "desktop"),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
     "Safari", "iOS", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
     "Samsung Internet", "Android", "mobile"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     "Chrome", "Linux", "desktop"),
]


def zipf_weights(count, s=1.0):
    return [1 / (rank + 1) ** s for rank in range(count)]


class Spec:
    def __init__(self, events, sites, days, seed):
        self.events, self.sites, self.days, self.seed = events, sites, days, seed
        today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.end_ms = int(today.timestamp() * 1000)
        self.start_ms = self.end_ms - days * 86_400_000
        weights = zipf_weights(sites, 0.9)
        total = sum(weights)
        self.site_names = [f"site{i:03d}.example" for i in range(sites)]
        self.site_shares = [w / total for w in weights]

    @property
    def name(self):
        return f"events-{self.events}-{self.sites}-{self.days}d-seed{self.seed}-{self.end_ms // 86_400_000}.csv"

    def biggest_site(self):
        return self.site_names[0]

    def median_site(self):
        return self.site_names[self.sites // 2]


def generate(spec, folder):
    """Writes the data set (if not there yet) and returns its path."""
    path = os.path.join(folder, spec.name)
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(spec.seed)
    chunk = 100_000
    path_weights = list(itertools.accumulate(zipf_weights(1000)))
    referrer_weights = list(itertools.accumulate(zipf_weights(200)))
    country_weights = list(itertools.accumulate(zipf_weights(len(COUNTRIES))))
    agent_weights = list(itertools.accumulate(zipf_weights(len(AGENTS))))
    site_weights = list(itertools.accumulate(spec.site_shares))
    # Each site has its own visitors, about one per five of its events, numbered apart.
    visitor_base, visitor_counts = [], []
    base = 0
    for share in spec.site_shares:
        visitor_base.append(base)
        count = max(10, int(spec.events * share / 5))
        visitor_counts.append(count)
        base += count
    span = spec.end_ms - spec.start_ms
    with open(path + ".partial", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for offset in range(0, spec.events, chunk):
            n = min(chunk, spec.events - offset)
            sites = rng.choices(range(spec.sites), cum_weights=site_weights, k=n)
            paths = rng.choices(range(1000), cum_weights=path_weights, k=n)
            referrers = rng.choices(range(200), cum_weights=referrer_weights, k=n)
            countries = rng.choices(COUNTRIES, cum_weights=country_weights, k=n)
            agents = rng.choices(AGENTS, cum_weights=agent_weights, k=n)
            for i in range(n):
                site = sites[i]
                agent = agents[i]
                writer.writerow([
                    spec.site_names[site], spec.start_ms + int(rng.random() * span),
                    visitor_base[site] + int(rng.random() * visitor_counts[site]),
                    f"/page/{paths[i]}", f"https://ref{referrers[i]}.example/" if rng.random() < 1 / 3 else "",
                    countries[i], agent[1], agent[2], agent[3], agent[0]])
    os.rename(path + ".partial", path)
    return path
