"""JOS request signing and timestamps, shared by the client and the SA sandbox.

Pure Python on purpose: the sandbox process imports it without Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SYSTEM_PARAMS = ("method", "app_key", "access_token", "timestamp", "v", "format", "360buy_param_json")


def sign(params: Mapping[str, object], app_secret: str) -> str:
    """JD's sign: every parameter but `sign`, sorted by name, name+value concatenated (empty values
    skipped), wrapped in the app secret, MD5 of the UTF-8 bytes, upper-case hex."""
    body = "".join(
        f"{name}{value}"
        for name, value in sorted(params.items())
        if name != "sign" and value is not None and str(value) != ""
    )
    return hashlib.md5(f"{app_secret}{body}{app_secret}".encode()).hexdigest().upper()


def jd_timestamp(now: datetime | None = None) -> str:
    """JOS timestamps are wall-clock Beijing time, whatever the server's zone."""
    now = now or datetime.now(tz=SHANGHAI)
    return now.astimezone(SHANGHAI).strftime(TIMESTAMP_FORMAT)


def parse_jd_timestamp(value: str) -> datetime:
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=SHANGHAI)


def response_key(method: str) -> str:
    """`jingdong.pop.order.search` answers under `jingdong_pop_order_search_responce` (JD's spelling)."""
    return method.replace(".", "_") + "_responce"
