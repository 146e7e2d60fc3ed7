"""JOS request signing, timestamps and envelope keys, shared by the client and the SA sandbox.

Pure Python on purpose: the sandbox process imports it without Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
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
    """`yyyy-MM-dd HH:mm:ss` in Beijing time. Sliced by hand: a sync parses three per row, and
    strptime is several times slower; anything not of that exact shape falls back to it (and fails)."""
    if len(value) == 19 and value[4] == "-" and value[7] == "-" and value[10] == " " and value[13] == ":":
        try:
            return datetime(
                int(value[0:4]),
                int(value[5:7]),
                int(value[8:10]),
                int(value[11:13]),
                int(value[14:16]),
                int(value[17:19]),
                tzinfo=SHANGHAI,
            )
        except ValueError:
            pass
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=SHANGHAI)


def parse_request_timestamp(value: str) -> datetime:
    """A request's `timestamp` as JD takes it: the plain `yyyy-MM-dd HH:mm:ss` (Beijing time), or the
    form JD's SDKs send, `yyyy-MM-dd HH:mm:ss.SSS` with an optional zone offset (`+0800`, `+08:00`:
    the official Python SDK formats it with `.000%z`). Raises ValueError for anything else."""
    value = value.strip()
    if len(value) == 19:
        return parse_jd_timestamp(value)
    if len(value) < 23 or value[19] != "." or not value[20:23].isdigit():
        raise ValueError(f"not a JOS timestamp: {value!r}")
    moment = parse_jd_timestamp(value[:19]).replace(microsecond=int(value[20:23]) * 1000)
    zone = value[23:]
    if not zone:
        return moment
    offset = zone.replace(":", "")
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise ValueError(f"not a JOS timestamp: {value!r}")
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    tz = timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes))
    return moment.replace(tzinfo=tz)


def response_key(method: str) -> str:
    """`jingdong.pop.order.search` answers under `jingdong_pop_order_search_responce` (JD's spelling)."""
    return method.replace(".", "_") + "_responce"


def response_keys(method: str) -> tuple[str, str]:
    """Both spellings a JOS answer's envelope is met with: JD's own `_responce`, and `_response`
    (JD's union APIs and some of its SDK documentation spell it so)."""
    base = method.replace(".", "_")
    return base + "_responce", base + "_response"
