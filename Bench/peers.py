"""The peers Footfall is measured against, each loaded with the benchmark's events and tuned as its
users would: DuckDB (a native table, threads = cores), PostgreSQL (an index on (site, time), after
VACUUM ANALYZE) and RocksDB's own write limit (db_bench fillrandom)."""
import os
import re
import shutil
import subprocess
import time

# The dashboard questions, for one site over [from, to) in milliseconds. Exact unique visitors.
QUESTIONS = {
    "summary": "SELECT count(*), count(DISTINCT visitor) FROM events WHERE site = %s AND ts_ms >= %s AND ts_ms < %s",
    "pages": "SELECT path, count(*) AS c FROM events WHERE site = %s AND ts_ms >= %s AND ts_ms < %s "
             "GROUP BY path ORDER BY c DESC, path LIMIT 10",
    "referrers": "SELECT referrer, count(*) AS c FROM events WHERE site = %s AND ts_ms >= %s AND ts_ms < %s AND referrer <> '' "
                 "GROUP BY referrer ORDER BY c DESC, referrer LIMIT 10",
    "countries": "SELECT country, count(*) AS c FROM events WHERE site = %s AND ts_ms >= %s AND ts_ms < %s "
                 "GROUP BY country ORDER BY c DESC, country LIMIT 10",
    "timeseries": "SELECT CAST(floor(ts_ms / 86400000.0) AS BIGINT) AS day, count(*), count(DISTINCT visitor) FROM events "
                  "WHERE site = %s AND ts_ms >= %s AND ts_ms < %s GROUP BY day ORDER BY day",
}
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
        return self.db.execute(QUESTIONS[question].replace("%s", "?"), [site, from_ms, to_ms]).fetchall()

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
            cursor.execute(QUESTIONS[question], (site, from_ms, to_ms))
            return cursor.fetchall()

    def bytes_on_disk(self):
        with self.db.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('events')")
            return cursor.fetchone()[0]

    def close(self):
        self.db.close()
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "stop")


def db_bench(folder, num, sync):
    """RocksDB's fillrandom with batches of 100, 32-byte keys and 300-byte values: ops/s."""
    shutil.rmtree(folder, ignore_errors=True)
    args = ["db_bench", "--benchmarks=fillrandom", f"--num={num}", "--key_size=32", "--value_size=300",
            "--batch_size=100", "--threads=1", f"--sync={1 if sync else 0}", f"--db={folder}"]
    output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    match = re.search(r"fillrandom\s*:\s*[\d.]+ micros/op (\d+) ops/sec", output)
    if not match:
        raise RuntimeError(f"db_bench printed no fillrandom rate:\n{output[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return int(match.group(1))
