"""A malformed FIELD_ENCRYPTION_KEY stops the process at start (`manage.py check` in a fresh
interpreter), with a message naming the variable: not at the first shop secret read or saved."""

import os
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.test_settings import CLEARED, GOOD_KEY, ROOT

PRODUCTION = {
    "ERP_ENV": "production",
    "DEBUG": "0",
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "erp.example.com",
}


def manage_check(**env):
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "erp_aftersales.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_a_malformed_key_naming_the_variable():
    for bad in ("not-a-fernet-key", "x" * 44, Fernet.generate_key().decode()[:-2], "ключ"):
        result = manage_check(**PRODUCTION, FIELD_ENCRYPTION_KEY=bad)
        assert result.returncode != 0, bad
        assert "FIELD_ENCRYPTION_KEY 格式不对（第 1 个密钥）" in result.stderr, result.stderr[-500:]
        assert bad not in result.stderr  # a secret is never echoed into the logs


def test_the_bad_one_of_rotated_keys_is_named():
    keys = f"{Fernet.generate_key().decode()},oops"
    result = manage_check(**PRODUCTION, FIELD_ENCRYPTION_KEY=keys)
    assert result.returncode != 0 and "第 2 个密钥" in result.stderr


def test_development_refuses_a_malformed_key_too():
    result = manage_check(FIELD_ENCRYPTION_KEY="oops")
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEY" in result.stderr


def test_good_keys_start_in_both_modes():
    good, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    # Rotation (new,old), a trailing comma skipped.
    assert manage_check(**PRODUCTION, FIELD_ENCRYPTION_KEY=f"{good},{old},").returncode == 0
    result = manage_check(FIELD_ENCRYPTION_KEY=good)
    assert result.returncode == 0, result.stderr
    # Unset in development: derived from SECRET_KEY, as before.
    assert manage_check().returncode == 0
