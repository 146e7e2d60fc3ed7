"""Shared start of every bench script: the repo on sys.path, the bench PostgreSQL database
($BENCH_DATABASE_URL, else the script's default name, created if missing), Django set up."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(ROOT / ".venv" / "bin" / "celery")


def ensure_database(url: str) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def setup_django(default_db: str, **env: str) -> None:
    """`env`: settings for this bench, e.g. JOS_RATE_LIMIT_PER_SECOND="0"."""
    sys.path.insert(0, str(ROOT))
    url = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_db}")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_aftersales.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.update(env)
    ensure_database(url)
    import django

    django.setup()


class Stack:
    """The worker and beat subprocesses, each in its own session (its own process group), logs in files."""

    def __init__(self, env, prefix="kill-worker-"):
        self.env = env
        self.logs = Path(tempfile.mkdtemp(prefix=prefix))
        self.processes = {}

    def start(self, name, *command):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (kept open by the child)
        self.processes[name] = subprocess.Popen(
            [CELERY, "-A", "erp_aftersales", *command],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self.processes[name]

    def worker(self, name):
        return self.start(
            name, "worker", "--pool", "prefork", "-c", "2", "-n", f"{name}@%h", "--loglevel", "INFO"
        )

    def kill(self, name):
        """SIGKILL to the whole group: the main process and its pool children die at the same instant."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for process in self.processes.values():
            try:  # pool children left behind by a main process that died first
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
