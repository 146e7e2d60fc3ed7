"""`make run`'s last step: web + Celery worker (with the one embedded beat) + the SA sandbox.

One foreground command so a new user gets everything with Ctrl-C to stop it; production runs the
same pieces as separate services (docker-compose.yml, each `restart: unless-stopped`).

It is also their supervisor: a child that exits is started again (logged, with its exit code),
after a backoff that doubles from RESTART_DELAY to RESTART_DELAY_MAX while it keeps dying soon
after its start, and resets once it has run for STABLE_AFTER seconds. Ctrl-C (or SIGTERM) stops
everything, restarts included.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from erp_aftersales.demo import share_with_sandbox
from sa_sync.tasks import sync_all_shops
from sandbox.testing import SandboxClient

RESTART_DELAY = 1.0  # seconds before the first restart of a child that exited
RESTART_DELAY_MAX = 60.0  # the longest wait between two restarts of a child that keeps dying
STABLE_AFTER = 60.0  # a child that ran this long is healthy again: its next restart waits RESTART_DELAY


class Supervisor:
    """Keeps named child processes running. `start(name)` returns a Popen-like object (poll(),
    returncode, pid); `log` receives one line per event; `clock` is time.monotonic. The loop itself
    is `check()`, called every half second by the command (and by the tests, with fakes)."""

    def __init__(self, start, names, *, log, clock=time.monotonic, kill_group=None):
        self._start, self.log, self.clock = start, log, clock
        self.kill_group = kill_group or _kill_group
        self.processes = {}
        self.started_at = {}
        self.restart_at = {}  # name -> when the dead child is started again
        self.delay = {name: RESTART_DELAY for name in names}
        self.restarts = {name: 0 for name in names}
        for name in names:
            self.start(name)

    def start(self, name):
        self.processes[name] = self._start(name)
        self.started_at[name] = self.clock()

    def check(self):
        now = self.clock()
        for name, process in list(self.processes.items()):
            if name in self.restart_at:
                if now >= self.restart_at[name]:
                    del self.restart_at[name]
                    self.restarts[name] += 1
                    self.log(f"正在重启 {name}（第 {self.restarts[name]} 次）")
                    self.start(name)
                continue
            if process.poll() is None:
                continue
            if now - self.started_at[name] >= STABLE_AFTER:
                self.delay[name] = RESTART_DELAY  # it had been running fine: a fresh failure
            # What the dead child left in its process group (a worker's pool processes) goes too.
            self.kill_group(process.pid)
            wait = self.delay[name]
            self.delay[name] = min(wait * 2, RESTART_DELAY_MAX)
            self.restart_at[name] = now + wait
            self.log(f"{name} 已退出（退出码 {process.returncode}），{wait:.0f} 秒后重启")

    def running(self):
        return [p for name, p in self.processes.items() if name not in self.restart_at and p.poll() is None]


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Command(BaseCommand):
    help = "启动 Web、Celery worker（内嵌 beat）和 SA 沙箱；Ctrl-C 全部停止。"

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--no-sandbox", action="store_true", help="不启动 SA 沙箱（连接真实京东时）")

    def handle(self, *args, **options):
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "erp_aftersales",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "2"),
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        }
        if not options["no_sandbox"]:
            commands["sandbox"] = [
                python,
                "-m",
                "sandbox",
                "--host",
                settings.SANDBOX_HOST,
                "--port",
                str(settings.SANDBOX_PORT),
                "--demo",
                # the demo's buyers ship their approved returns back two minutes after the start
                "--buyer-ships-after",
                os.environ.get("SANDBOX_BUYER_SHIPS_AFTER", "120"),
            ]
        # Ctrl-C from here on stops everything, even during the first sync below.
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor = Supervisor(
            lambda name: subprocess.Popen(commands[name], cwd=settings.BASE_DIR, start_new_session=True),
            list(commands),
            log=self.stderr.write,
        )
        if "sandbox" in commands and not stopping:
            self._first_sync()
        self.stdout.write(
            f"后台已启动：http://{options['host']}:{options['port']}/admin/ "
            f"（演示账号 admin / cs / ops / warehouse，密码 erp-demo）；Ctrl-C 停止。"
        )
        while not stopping:
            supervisor.check()
            time.sleep(0.5)
        # SIGTERM to each main process only: celery then stops its own pool children cleanly.
        running = supervisor.running()
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        sys.exit(0)

    def _first_sync(self):
        """Don't make a new user wait a whole beat interval for the first download."""
        base = f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_PORT}"
        for _ in range(40):
            try:
                urllib.request.urlopen(f"{base}/_sandbox/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.25)
        # The sandbox starts empty but for its own demo data: let it know the local demo slips too.
        shared = share_with_sandbox(SandboxClient(base))
        self.stdout.write(f"SA 沙箱已载入本地演示退款单 {shared} 条")
        sync_all_shops.delay()
