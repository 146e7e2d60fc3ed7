"""Settings come from the environment: checked in a fresh interpreter each time."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], 'broker': settings.CELERY_BROKER_URL,"
    " 'debug': settings.DEBUG, 'tz': settings.TIME_ZONE, 'lang': settings.LANGUAGE_CODE}))"
)
CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ERP_ENV",
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    # Set for the browser tests' event loop (tests/browser/conftest.py); a deployment never has it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)
FIELD_KEY = "q0wG2b7Yc6dT9hS3nVfJ1kL4mP8rX5zA2eB7uC0yWiE="


def run_settings(**env):
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    base["DJANGO_SETTINGS_MODULE"] = "erp_aftersales.settings"
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def test_embedded_default_is_sqlite_and_filesystem_broker():
    result = run_settings()
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["broker"] == "filesystem://"
    assert (got["tz"], got["lang"]) == ("Asia/Shanghai", "zh-hans")


def test_database_url_selects_postgresql_and_redis():
    result = run_settings(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test", REDIS_URL="redis://127.0.0.1:6379/0"
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["engine"] == "django.db.backends.postgresql"
    assert got["broker"] == "redis://127.0.0.1:6379/0"


GOOD_KEY = "Wq3-Zr8_pLx2Nv5mTc9Hb4Kd7Yf1Gs6Je0Ua" * 2


def test_production_refuses_debug():
    result = run_settings(ERP_ENV="production", DEBUG="1", SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_production_refuses_default_secret_key():
    result = run_settings(ERP_ENV="production", DEBUG="0")
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_unknown_erp_env_is_refused():
    result = run_settings(ERP_ENV="prod", DEBUG="0", SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0 and "ERP_ENV" in result.stderr and "production" in result.stderr


def test_production_refuses_a_key_with_too_little_variety():
    for weak in ("a" * 32, "ab" * 40, "short-Key-1"):
        result = run_settings(ERP_ENV="production", DEBUG="0", SECRET_KEY=weak)
        assert result.returncode != 0 and "SECRET_KEY" in result.stderr, weak


def test_production_deploy_check_is_clean():
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "erp_aftersales.settings",
        "ERP_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": GOOD_KEY,
        "FIELD_ENCRYPTION_KEY": FIELD_KEY,
        "ALLOWED_HOSTS": "erp.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_starts_with_real_settings():
    result = run_settings(
        ERP_ENV="production", DEBUG="0", SECRET_KEY=GOOD_KEY, FIELD_ENCRYPTION_KEY=FIELD_KEY
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


def test_production_refuses_to_run_without_a_field_encryption_key():
    # Shops' secrets would otherwise be encrypted with a key that changes whenever SECRET_KEY does.
    result = run_settings(ERP_ENV="production", DEBUG="0", SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEY" in result.stderr
