"""JD's typed JOS errors: the JD family of `platforms.errors.PlatformError`.

Callers above the port read the flags (`retryable`, `credential_problem`, `outcome_unknown`), never
JD's codes.

`user_message` is plain Chinese a customer-service user reads: what went wrong, never what happens
next. Whether a failed call is tried again depends on the caller (the sync runs again every minute,
a background writeback job retries its slips, a single writeback only when the shop has an enabled
auto-writeback rule), so the caller says it; sa_sync.writeback adds the true sequel to each slip.
No message ever contains a secret: JD's own descriptions are scrubbed of the values the client
passes in `secrets`.
"""

from __future__ import annotations

from collections.abc import Iterable

from platforms.errors import PlatformError


class JosError(PlatformError):
    """A JOS call failed. Unknown JD codes are plain `JosError`s: not retryable, JD's text shown."""

    def __init__(self, user_message: str, *, zh_desc: str = "", en_desc: str = "", **kwargs):
        super().__init__(user_message, **kwargs)
        self.zh_desc = zh_desc or ""
        self.en_desc = en_desc or ""


class JosCallLimitError(JosError):
    """Code 2: JD's per-app call quota is used up for now."""

    retryable = True


class JosPlatformTimeoutError(JosError):
    """Code 65: JD's platform timed out internally."""

    retryable = True


class JosTimestampError(JosError):
    """Codes 7/8: our server clock is off by more than JD's 6-minute tolerance."""


class JosMethodError(JosError):
    """Codes 14/15: the API method name is wrong: a configuration error, not a transient one."""


class JosCredentialError(JosError):
    """The shop's credentials or authorisation are wrong: stop auto-writeback for the shop."""

    credential_problem = True


class JosSignError(JosCredentialError):
    """Codes 11/12: the sign does not match, almost always a wrong app_secret."""


class JosAccessTokenError(JosCredentialError):
    """Codes 18/19: the access_token is missing or expired / revoked."""


class JosAppKeyError(JosCredentialError):
    """Codes 20/21: the app_key is missing or unknown."""


class JosPermissionError(JosCredentialError):
    """Code 24: the app has not been granted this API."""


class JosTransportError(JosError):
    """HTTP 5xx / 429, timeouts, refused or reset connections: JD did not answer, try again later."""

    retryable = True

    def __init__(self, user_message: str, *, code: str = "TRANSPORT", status: int | None = None, **kwargs):
        super().__init__(user_message, code=code, **kwargs)
        self.status = status

    @classmethod
    def for_status(cls, status: int) -> JosTransportError:
        if status >= 500 or status == 429:
            return cls(f"京东接口暂时不可用（HTTP {status}）", code=f"HTTP_{status}", status=status)
        # A 4xx from the gateway means we are calling the wrong address: retrying will not help.
        return cls(
            f"京东接口返回 HTTP {status}，请管理员检查京东接口地址配置（JOS_ENDPOINT）",
            code=f"HTTP_{status}",
            status=status,
            retryable=False,
        )

    @classmethod
    def timeout(cls) -> JosTransportError:
        return cls("调用京东接口超时", code="TIMEOUT")

    @classmethod
    def connection(cls) -> JosTransportError:
        return cls("无法连接京东接口（连接被拒绝）", code="CONNECTION")

    @classmethod
    def reset(cls) -> JosTransportError:
        return cls("与京东接口的连接在请求发出后中断", code="CONNECTION_RESET")


class JosProtocolError(JosError):
    """JD answered something we cannot parse: retry once, then give up."""

    retryable = True
    retry_limit = 1

    def __init__(self, user_message: str = "京东接口返回了无法识别的内容", **kwargs):
        kwargs.setdefault("code", "PROTOCOL")
        super().__init__(user_message, **kwargs)


class JosResponseTooLargeError(JosProtocolError):
    """JD's answer is larger than JOS_MAX_RESPONSE_BYTES: reading stopped there. Not retried: the
    same call would bring the same answer, and each try costs the reading up to the limit."""

    retryable = False

    def __init__(self, limit: int):
        super().__init__(
            f"京东接口返回内容超过上限 {_size_text(limit)}（JOS_MAX_RESPONSE_BYTES），已停止读取，本次调用失败；"
            "请联系管理员检查京东返回的数据，确属正常时可调大该上限",
            code="RESPONSE_TOO_LARGE",
        )
        self.limit = limit


def _size_text(size: int) -> str:
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} 字节"


class JosBusinessError(JosError):
    """The envelope says code "0" but the business result says success: false (e.g. 退款单不存在)."""

    def __init__(self, result_code: str = "", result_msg: str = "", *, result: dict | None = None):
        text = result_msg or result_code or "业务处理失败（未提供原因）"
        super().__init__(f"京东返回：{text}", code=result_code or "BUSINESS", zh_desc=result_msg)
        self.result_code = result_code
        self.result_msg = result_msg
        self.result = result or {}


class JosRateLimiterError(JosError):
    """The shared rate limiter (Redis) is unreachable: no call was made; try again later."""

    retryable = True

    def __init__(self, user_message: str = "限流服务（Redis）暂时不可用，未调用京东接口", **kwargs):
        kwargs.setdefault("code", "RATE_LIMITER")
        super().__init__(user_message, **kwargs)


class JosConfigurationError(JosError):
    """The shop cannot call JD at all: its credentials are not filled in."""

    credential_problem = True


# One table: JD's code -> (class, what the user should read).
JOS_ERROR_CODES: dict[str, tuple[type[JosError], str]] = {
    "2": (JosCallLimitError, "京东接口调用次数超限，请稍后重试"),
    "7": (
        JosTimestampError,
        "京东返回：请求时间戳缺失，系统服务器时钟与北京时间可能相差超过 6 分钟，请管理员校准服务器时间（开启 NTP 同步）",
    ),
    "8": (
        JosTimestampError,
        "京东返回：请求时间戳无效，系统服务器时钟与北京时间相差超过 6 分钟，请管理员校准服务器时间（开启 NTP 同步）",
    ),
    "11": (JosSignError, "京东返回：签名缺失，请检查店铺的 App Secret 是否填写正确"),
    "12": (JosSignError, "京东返回：签名无效，请检查店铺的 App Secret 是否填写正确"),
    "14": (JosMethodError, "京东返回：接口方法名缺失，这是系统配置错误，请联系管理员"),
    "15": (JosMethodError, "京东返回：接口方法不存在，这是系统配置错误，请联系管理员检查接口配置"),
    "18": (JosAccessTokenError, "京东返回：缺少 access_token，请重新授权店铺"),
    "19": (JosAccessTokenError, "京东返回：access_token 失效，请重新授权店铺"),
    "20": (JosAppKeyError, "京东返回：缺少 App Key，请检查店铺的 App Key 配置"),
    "21": (JosAppKeyError, "京东返回：App Key 无效，请检查店铺的 App Key 配置"),
    "24": (JosPermissionError, "京东返回：店铺未获得该接口权限，请在京东开放平台为应用申请该接口权限"),
    "65": (JosPlatformTimeoutError, "京东返回：京东平台处理超时"),
}


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_from_response(
    code, zh_desc: str = "", en_desc: str = "", *, secrets: Iterable[str] = ()
) -> JosError:
    """Build the typed error for a JOS `error_response`. `secrets` are blanked out of JD's texts."""
    code = str(code if code is not None else "").strip()
    secrets = tuple(secrets)
    zh_desc = scrub(str(zh_desc or ""), secrets)
    en_desc = scrub(str(en_desc or ""), secrets)
    cls, message = JOS_ERROR_CODES.get(code, (None, None))
    if cls is None:
        detail = zh_desc or en_desc or "未提供说明"
        return JosError(
            f"京东返回错误（错误码 {code or '空'}）：{detail}", code=code, zh_desc=zh_desc, en_desc=en_desc
        )
    return cls(f"{message}（错误码 {code}）", code=code, zh_desc=zh_desc, en_desc=en_desc)
