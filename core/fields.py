"""Encrypted text at rest: for credentials that must never sit readable in a database dump or backup.

Fernet (AES-128-CBC + HMAC-SHA256) with the key(s) in `settings.FIELD_ENCRYPTION_KEY`: one key, or
several separated by commas to rotate (the first encrypts, every one decrypts, so old rows stay
readable until re-saved). Python code reads and writes plain strings; only the column holds tokens.
The values cannot be filtered or searched in SQL (each encryption is different): nothing needs to.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Every Fernet token starts with its version byte 0x80, which base64 writes as "gAAAAA".
TOKEN_PREFIX = "gAAAAA"


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY 格式不对：需要 Fernet 密钥（32 字节的 URL 安全 base64），可用 "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' 生成。"
        ) from error


def fernet() -> MultiFernet:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEY", "")
    if not keys:
        raise ImproperlyConfigured("没有设置 FIELD_ENCRYPTION_KEY，无法加密或解密店铺密钥。")
    return _fernet(keys)


def encrypt(value: str) -> str:
    # Empty stays empty: "not set" is shown to users anyway, and an empty column needs no key.
    if not value:
        return ""
    return fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    try:
        return fernet().decrypt(stored.encode()).decode()
    except InvalidToken as error:
        # Loud on purpose: a wrong key must not pass ciphertext on to JD as if it were the secret.
        raise ImproperlyConfigured(
            "店铺密钥无法解密：FIELD_ENCRYPTION_KEY 与加密时使用的密钥不一致（更换密钥时请把旧密钥放在逗号后面）。"
        ) from error


class EncryptedTextField(models.TextField):
    """A text column that holds a Fernet token and reads back as the plain string."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value is not None else value
