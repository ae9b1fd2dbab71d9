"""The peers Footfall is measured against, each loaded with the benchmark's events and tuned as its
users would: DuckDB (a native table, threads = cores), PostgreSQL (an index on (site, time), after
VACUUM ANALYZE) and RocksDB's own write limit (db_bench fillrandom)."""
import os
import re
import shutil
import subprocess
import time

# The dashboard questions, for one site over [from, to) in milliseconds. Exact unique visitors.
# Each has a shape (what its answer looks like: a summary, a top-10 breakdown or a daily series)
# and the filters a dashboard click sets, as Footfall's API names them: (dimension, value).
class Question:
    def __init__(self, shape, sql, filters=()):
        self.shape, self.sql, self.filters = shape, sql, list(filters)


def _sql(shape, where="", source="events"):
    """A question's SQL over `source` (a table or CTE holding the site's events of the range)."""
    condition = f" AND {where}" if where else ""
    return {
        "summary": f"SELECT count(*), count(DISTINCT visitor) FROM {source} WHERE site = %s AND ts_ms >= %s AND ts_ms < %s{condition}",
        "pages": f"SELECT path, count(*) AS c FROM {source} WHERE site = %s AND ts_ms >= %s AND ts_ms < %s{condition} "
                 "GROUP BY path ORDER BY c DESC, path LIMIT 10",
        "referrers": f"SELECT referrer, count(*) AS c FROM {source} WHERE site = %s AND ts_ms >= %s AND ts_ms < %s "
                     f"AND referrer <> ''{condition} GROUP BY referrer ORDER BY c DESC, referrer LIMIT 10",
        "countries": f"SELECT country, count(*) AS c FROM {source} WHERE site = %s AND ts_ms >= %s AND ts_ms < %s{condition} "
                     "GROUP BY country ORDER BY c DESC, country LIMIT 10",
        "timeseries": "SELECT CAST(floor(ts_ms / 86400000.0) AS BIGINT) AS day, count(*), count(DISTINCT visitor) "
                      f"FROM {source} WHERE site = %s AND ts_ms >= %s AND ts_ms < %s{condition} GROUP BY day ORDER BY day",
    }[shape]


# Visits as Footfall derives them: a visitor's hits within the range, a new visit after a gap of
# 30 minutes or more; each row carries its visit's entry page.
VISITS = ("(SELECT site, ts_ms, visitor, path, FIRST_VALUE(path) OVER (PARTITION BY visitor, visit ORDER BY ts_ms "
          "ROWS UNBOUNDED PRECEDING) AS entry_page FROM ("
          "SELECT site, ts_ms, visitor, path, SUM(CASE WHEN previous IS NULL OR ts_ms - previous >= 1800000 THEN 1 ELSE 0 END) "
          "OVER (PARTITION BY visitor ORDER BY ts_ms ROWS UNBOUNDED PRECEDING) AS visit FROM ("
          "SELECT site, ts_ms, visitor, path, LAG(ts_ms) OVER (PARTITION BY visitor ORDER BY ts_ms) AS previous "
          "FROM events WHERE site = %s AND ts_ms >= %s AND ts_ms < %s) AS gaps) AS numbered) AS visits")
# The data set's most popular values (Bench/dataset.py draws each from a Zipf ranking, first
# value first): what a click on a dashboard's top row filters by.
TOP_PAGE, TOP_REFERRER, TOP_COUNTRY = "/page/0", "https://ref0.example/", "US"

QUESTIONS = {name: Question(shape, _sql(shape)) for name, shape in
             [("summary", "summary"), ("pages", "pages"), ("referrers", "referrers"), ("countries", "countries"), ("timeseries", "timeseries")]}
QUESTIONS.update({
    "summary, page": Question("summary", _sql("summary", f"path = '{TOP_PAGE}'"), [("page", TOP_PAGE)]),
    "pages, referrer": Question("pages", _sql("pages", f"referrer = '{TOP_REFERRER}'"), [("referrer", "ref0.example")]),
    "countries, mobile": Question("countries", _sql("countries", "device = 'mobile'"), [("device", "mobile")]),
    "timeseries, country": Question("timeseries", _sql("timeseries", f"country = '{TOP_COUNTRY}'"), [("country", TOP_COUNTRY)]),
    "summary, entry page": Question("summary", _sql("summary", f"entry_page = '{TOP_PAGE}'", source=VISITS), [("entry_page", TOP_PAGE)]),
    "summary, page+country": Question("summary", _sql("summary", f"path = '{TOP_PAGE}' AND country = '{TOP_COUNTRY}'"),
                                      [("page", TOP_PAGE), ("country", TOP_COUNTRY)]),
})
SCHEMA = ("CREATE TABLE events (site VARCHAR, ts_ms BIGINT, visitor BIGINT, path VARCHAR, referrer VARCHAR, "
          "country VARCHAR, browser VARCHAR, os VARCHAR, device VARCHAR, user_agent VARCHAR)")


class DuckDB:
    name = "DuckDB"

    def __init__(self, folder):
        import duckdb
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.path = os.path.join(folder, "events.duckdb")
        self.db = duckdb.connect(self.path)
        self.db.execute(f"SET threads = {os.cpu_count()}")

    def load(self, csv_path):
        started = time.monotonic()
        self.db.execute(SCHEMA)
        self.db.execute("INSERT INTO events SELECT * FROM read_csv(?, header = true, columns = {"
                        "'site': 'VARCHAR', 'ts_ms': 'BIGINT', 'visitor': 'BIGINT', 'path': 'VARCHAR', 'referrer': 'VARCHAR', "
                        "'country': 'VARCHAR', 'browser': 'VARCHAR', 'os': 'VARCHAR', 'device': 'VARCHAR', 'user_agent': 'VARCHAR'})",
                        [csv_path])
        self.db.execute("CHECKPOINT")
        return time.monotonic() - started

    def ask(self, question, site, from_ms, to_ms):
        sql = QUESTIONS[question].sql
        return self.db.execute(sql.replace("%s", "?"), [site, from_ms, to_ms] * (sql.count("%s") // 3)).fetchall()

    def bytes_on_disk(self):
        return os.path.getsize(self.path)

    def close(self):
        self.db.close()


class PostgreSQL:
    """A private server (initdb into the bench folder, a Unix socket only), run as `postgres`."""
    name = "PostgreSQL"
    PORT = 55432

    def __init__(self, folder):
        import psycopg2
        bin_dir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        self.bin = f"/usr/lib/postgresql/{bin_dir}/bin"
        self.data = os.path.join(folder, "data")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        shutil.chown(folder, "postgres", "postgres")
        self._as_postgres(f"{self.bin}/initdb", "-D", self.data, "--auth=trust", "-U", "postgres", "-E", "UTF8")
        settings = f"-k {folder} -p {self.PORT} -c listen_addresses='' -c shared_buffers=512MB -c work_mem=64MB " \
                   f"-c max_parallel_workers_per_gather={os.cpu_count()} -c synchronous_commit=off"
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-l", os.path.join(folder, "log"), "-o", settings, "-w", "start")
        self.db = psycopg2.connect(host=folder, port=self.PORT, user="postgres", dbname="postgres")
        self.db.autocommit = True

    @staticmethod
    def _as_postgres(*args):
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def load(self, csv_path):
        started = time.monotonic()
        with self.db.cursor() as cursor:
            cursor.execute(SCHEMA)
            with open(csv_path) as handle:
                cursor.copy_expert("COPY events FROM STDIN WITH (FORMAT csv, HEADER true)", handle)
            cursor.execute("CREATE INDEX events_site_time ON events (site, ts_ms)")
            cursor.execute("VACUUM ANALYZE events")
        return time.monotonic() - started

    def ask(self, question, site, from_ms, to_ms):
        with self.db.cursor() as cursor:
            sql = QUESTIONS[question].sql
            cursor.execute(sql, (site, from_ms, to_ms) * (sql.count("%s") // 3))
            return cursor.fetchall()

    def bytes_on_disk(self):
        with self.db.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('events')")
            return cursor.fetchone()[0]

    def close(self):
        self.db.close()
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "stop")


def db_bench(folder, num, sync, threads=1):
    """RocksDB's fillrandom with batches of 100, 32-byte keys and 300-byte values, `num` writes
    shared by `threads` writers (RocksDB groups their commits, as Footfall's 16 clients are
    grouped): ops/s over all of them."""
    shutil.rmtree(folder, ignore_errors=True)
    args = ["db_bench", "--benchmarks=fillrandom", f"--num={num // threads}", "--key_size=32", "--value_size=300",
            "--batch_size=100", f"--threads={threads}", f"--sync={1 if sync else 0}", f"--db={folder}"]
    output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    match = re.search(r"fillrandom\s*:\s*[\d.]+ micros/op (\d+) ops/sec", output)
    if not match:
        raise RuntimeError(f"db_bench printed no fillrandom rate:\n{output[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return int(match.group(1))
