"""`make run`'s last step: web + Celery worker (with the one embedded beat) + the SA sandbox.

One foreground command so a new user gets everything with Ctrl-C to stop it; production runs the
same pieces as separate services (docker-compose.yml).
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
        processes = {}
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)
        if "sandbox" in processes:
            self._first_sync()
        self.stdout.write(
            f"后台已启动：http://{options['host']}:{options['port']}/admin/ "
            f"（演示账号 admin / cs / ops / warehouse，密码 erp-demo）；Ctrl-C 停止。"
        )

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} 已退出（退出码 {process.returncode}），正在停止其他进程。")
                    exit_code = process.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        # SIGTERM to each main process only: celery then stops its own pool children cleanly.
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        sys.exit(exit_code)

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
