"""`POST /routerjson`: JD's checks in JD's order, then the faults, then the method.

Every call lands in the call log with its business parameters only: the access token, the sign and the
app secret never reach the log (the secret never reaches the wire at all)."""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus

from platforms.jd.signing import SHANGHAI, parse_jd_timestamp, parse_request_timestamp, response_key, sign

from . import records, service_orders
from .state import SandboxState

MAX_CLOCK_SKEW_SECONDS = 6 * 60

ERRORS = {
    "1": ("服务不可用", "Service unavailable"),
    "2": ("调用次数超限，请稍后重试", "Api call limit exceeded, retry later"),
    "7": ("缺少timestamp参数", "Missing timestamp"),
    "8": ("timestamp参数无效，与服务器时间相差超过6分钟", "Invalid timestamp"),
    "11": ("缺少sign参数", "Missing signature"),
    "12": ("签名无效", "Invalid signature"),
    "14": ("缺少method参数", "Missing method"),
    "15": ("不存在的方法名", "Invalid method"),
    "18": ("缺少access_token参数", "Missing access_token"),
    "19": ("无效的access_token", "Invalid access_token"),
    "20": ("缺少app_key参数", "Missing app_key"),
    "21": ("无效的app_key", "Invalid app_key"),
    "24": ("无权调用此接口", "No permission for this api"),
    "65": ("平台连接后端服务超时", "Platform backend service timeout"),
}
SECRET_PARAM_NAMES = ("access_token", "app_secret", "sign")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json;charset=utf-8"
    note: str = ""  # for the request log line: method, app_key, outcome (never credentials)
    headers: dict = field(default_factory=dict)  # e.g. Location of the OAuth page's redirect


def json_reply(payload, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def error_envelope(code: str) -> dict:
    zh, en = ERRORS.get(code, ("系统错误（沙箱注入）", "System error (injected by the sandbox)"))
    return {"error_response": {"code": code, "zh_desc": zh, "en_desc": en}}


class BusinessError(Exception):
    # `number`: order.search's numberCode for the refusal (its values are not public: ours).
    def __init__(self, zh: str, en: str, code: str = "PARAM_ERROR", number: int = 10400001):
        super().__init__(en)
        self.zh, self.en, self.code, self.number = zh, en, code, number


# --- business parameter helpers ---------------------------------------------------------------


def _get(params: dict, name: str):
    value = params.get(name)
    return None if value is None or value == "" else value


def _int(params: dict, name: str, default: int | None = None) -> int | None:
    value = _get(params, name)
    if value is None:
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise BusinessError(f"参数{name}必须是整数", f"{name} must be an integer") from None


def _time(params: dict, name: str) -> datetime | None:
    value = _get(params, name)
    if value is None:
        return None
    try:
        return parse_jd_timestamp(str(value))
    except ValueError:
        raise BusinessError(
            f"参数{name}格式错误，应为yyyy-MM-dd HH:mm:ss", f"{name} must be yyyy-MM-dd HH:mm:ss"
        ) from None


def _flag(params: dict, name: str) -> bool:
    """A Boolean parameter: JSON true (the SDKs' Boolean) or the text "true"."""
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _page(params: dict, page_name: str, size_name: str, default_size: int, max_size: int) -> tuple[int, int]:
    page = _int(params, page_name, 1)
    size = _int(params, size_name, default_size)
    if page < 1:
        raise BusinessError(f"{page_name}必须大于0", f"{page_name} must be >= 1")
    if size < 1 or size > max_size:
        raise BusinessError(
            f"{size_name}必须在1到{max_size}之间", f"{size_name} must be between 1 and {max_size}"
        )
    return page, size


def _id_list(params: dict, name: str) -> set[int] | None:
    value = _get(params, name)
    if value is None:
        return None
    parts = value if isinstance(value, list) else str(value).split(",")
    try:
        return {int(str(p).strip()) for p in parts if str(p).strip()}
    except ValueError:
        raise BusinessError(
            f"参数{name}必须是逗号分隔的整数", f"{name} must be comma-separated integers"
        ) from None


# --- methods ----------------------------------------------------------------------------------


def order_search(state: SandboxState, app_key: str, p: dict) -> tuple[dict, bool]:
    start, end = _time(p, "start_date"), _time(p, "end_date")
    states_raw = _get(p, "order_state")
    # The SDKs' callers always send order_state; whether JD requires it is not known: none is all.
    states = {s.strip() for s in str(states_raw).split(",") if s.strip()} if states_raw else None
    page, size = _page(p, "page", "page_size", 20, 100)
    fields_raw = _get(p, "optional_fields")
    fields = {f.strip() for f in str(fields_raw).split(",") if f.strip()} if fields_raw else None
    total, rows = state.search_orders(app_key, start, end, states, page, size)
    if fields is not None:
        # JD returns of a row only the fields asked for; the order id always.
        rows = [{k: v for k, v in row.items() if k in fields or k == "orderId"} for row in rows]
    api_result = {"success": True, "englishErrCode": "success", "chineseErrCode": "成功", "numberCode": 0}
    return {
        "searchorderinfo_result": {"apiResult": api_result, "orderInfoList": rows, "orderTotal": total}
    }, True


def order_search_failure(error: BusinessError) -> dict:
    # The SDKs' ApiResult: {success, englishErrCode, chineseErrCode, numberCode}.
    api_result = {
        "success": False,
        "englishErrCode": error.en,
        "chineseErrCode": error.zh,
        "numberCode": error.number,
    }
    return {"searchorderinfo_result": {"apiResult": api_result, "orderInfoList": [], "orderTotal": 0}}


def refund_page_list(state: SandboxState, app_key: str, p: dict) -> tuple[dict, bool]:
    filters = {
        "ids": _id_list(p, "ids"),
        "status": _int(p, "status"),
        "orderId": _int(p, "orderId"),
        "applyTime": (_time(p, "applyTimeStart"), _time(p, "applyTimeEnd")),
        "checkTime": (_time(p, "checkTimeStart"), _time(p, "checkTimeEnd")),
    }
    page, size = _page(p, "pageIndex", "pageSize", 10, 50)
    if filters["ids"] is not None and len(filters["ids"]) > size:
        raise BusinessError("传入id数不能超过pageSize", "more ids than pageSize")
    if (
        filters["ids"] is None
        and filters["orderId"] is None
        and filters["applyTime"] == (None, None)
        and filters["checkTime"] == (None, None)
    ):
        raise BusinessError(
            "查询条件不能为空：请传入ids、orderId或申请/审核时间范围",
            "a query needs ids, orderId or an apply/check time range",
        )
    total, rows = state.query_refunds(app_key, filters, page, size)
    show_sku = _flag(p, "showSku")
    result = {
        "success": True,
        "totalCount": total,
        "result": [records.refund_row(r, show_sku=show_sku) for r in rows],
    }
    return {"queryResult": result}, True


def refund_failure(error: BusinessError) -> dict:
    # The SDKs' QueryResult: {totalCount, result, success, errorCode, errorMsg}.
    return {"queryResult": {"success": False, "errorCode": error.code, "errorMsg": error.zh}}


def refund_by_id(state: SandboxState, app_key: str, p: dict) -> tuple[dict, bool]:
    refund_id = _int(p, "id")
    if refund_id is None:
        raise BusinessError("缺少参数id", "id is required")
    refund = state.get_refund(app_key, refund_id)
    if refund is None:
        raise BusinessError("退款单不存在", "refund application not found", code="NOT_FOUND")
    row = records.refund_row(refund, show_sku=True)
    return {"queryResult": {"success": True, "totalCount": 1, "result": [row]}}, True


def update_warehouse_status(state: SandboxState, app_key: str, p: dict) -> tuple[dict, bool, bool]:
    # The SDKs type them Long, Long, Integer: numbers (numeric strings are taken too).
    for name in ("orderId", "refId", "status"):
        if _get(p, name) is None:
            raise BusinessError(f"缺少参数{name}", f"{name} is required")
    status = _int(p, "status")
    outcome = state.writeback(app_key, _int(p, "orderId"), _int(p, "refId"), str(status))
    result = {"success": outcome["success"]}
    if not outcome["success"]:
        result.update(errorCode=outcome["errorCode"], errorMsg=outcome["errorMsg"])
    return {"returnType": result}, outcome["success"], outcome["repeat"]


def writeback_failure(error: BusinessError) -> dict:
    # The SDK's response class answers in `returnType` (success, errorCode, errorMsg).
    return {"returnType": {"success": False, "errorCode": error.code, "errorMsg": error.zh}}


METHODS = {
    "jingdong.pop.order.search": (order_search, order_search_failure),
    "jingdong.pop.afs.soa.refundapply.queryPageList": (refund_page_list, refund_failure),
    "jingdong.pop.afs.soa.refundapply.queryById": (refund_by_id, refund_failure),
    "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus": (update_warehouse_status, writeback_failure),
    **service_orders.METHODS,  # jingdong.asc.*: JD's after-sales service orders
}


# --- the request ------------------------------------------------------------------------------


def _authenticate(state: SandboxState, params: dict) -> str | None:
    """JD's system checks, in JD's order; returns an error code or None."""
    method, app_key = params.get("method"), params.get("app_key")
    if not method:
        return "14"
    if method not in METHODS:
        return "15"
    if not app_key:
        return "20"
    shop = state.shop(app_key)
    if shop is None:
        return "21"
    if not params.get("timestamp"):
        return "7"
    try:
        # The plain form, or the SDKs' `yyyy-MM-dd HH:mm:ss.SSS+0800`.
        sent_at = parse_request_timestamp(params["timestamp"])
    except ValueError:
        return "8"
    if abs((datetime.now(tz=SHANGHAI) - sent_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
        return "8"
    if not params.get("sign"):
        return "11"
    # JD signs with MD5; a client announcing another method cannot have signed as JD checks.
    if params.get("sign_method") and str(params["sign_method"]).strip().lower() != "md5":
        return "12"
    expected = sign({k: v for k, v in params.items() if k != "sign"}, shop["app_secret"])
    if not hmac.compare_digest(expected, str(params["sign"]).upper()):
        return "12"
    token = params.get("access_token")
    if not token:
        return "18"
    if not hmac.compare_digest(token.encode(), shop["access_token"].encode()):
        return "19"  # unknown, or replaced by a refresh (sandbox/oauth.py)
    expires = shop.get("oauth", {}).get("access_expires_at")
    if expires is not None and state.clock() >= expires:
        return "19"  # expired: JD's code for an invalid token (which code JD uses is unconfirmed)
    if state.effective_faults(app_key).get("revoked"):
        return "19"
    return None


def _inject(state: SandboxState, app_key: str, method: str) -> tuple[tuple[str, object] | None, bool]:
    """Applies the faults. Returns (("jos", code) | ("http", status) | ("drop", seconds) | None, hung).
    Sleeps unlocked. A "drop" is for after the method: the call is applied, its answer lost."""
    count = state.count_call(app_key)
    faults = state.effective_faults(app_key)
    if faults.get("latency_ms"):
        time.sleep(faults["latency_ms"] / 1000)
    hung = False
    queued = state.take_fail_next(app_key, method)
    if queued:
        if queued["kind"] == "jos":
            return ("jos", queued["code"]), False
        if queued["kind"] == "http":
            return ("http", queued["status"]), False
        if queued["kind"] == "drop_after_apply":
            return ("drop", queued["seconds"]), False
        time.sleep(queued["seconds"])
        hung = True
    limit = faults.get("call_limit_per_second")
    if limit is not None and count > limit:
        return ("jos", "2"), hung
    if state.rng.random() < faults.get("http_5xx_rate", 0.0):
        return ("http", 503), hung
    if not hung and state.rng.random() < faults.get("hang_rate", 0.0):
        time.sleep(faults.get("hang_seconds", 30.0))
        hung = True
    if state.rng.random() < faults.get("error_rate", 0.0):
        return ("jos", state.rng.choice(faults.get("error_codes") or ["65"])), hung
    return None, hung


# --- bad data from JD: what a real gateway has been seen to send ----------------------------------
ROW_LISTS = ("orderInfoList", "result", "data")  # order.search's, queryPageList's, asc.query.list's


def _corrupt(payload: dict, rules: list[dict]) -> None:
    """Patches the answer's rows (copies: the stored data stays as seeded) whose `id` (a refund
    application) or, for an order, `orderId` is a rule's key."""
    if not rules:
        return
    by_key = {rule["key"]: rule for rule in rules}
    for result in payload.values():
        if not isinstance(result, dict):
            continue
        for name in ROW_LISTS:
            rows = result.get(name)
            if not isinstance(rows, list):
                continue
            for index, row in enumerate(rows):
                key = str(row.get("id", row.get("serviceId", row.get("orderId"))))
                if key in by_key:
                    rows[index] = _patched(row, by_key[key])


def _patched(row: dict, rule: dict) -> dict:
    row = json.loads(json.dumps(row))
    for name in rule["unset"]:
        row.pop(name, None)
    for path, value in rule["set"].items():
        *parents, leaf = path.split(".")
        target = row
        for parent in parents:
            child = target.get(parent)
            if not isinstance(child, dict):
                child = target[parent] = {}
            target = child
        target[leaf] = value
    return row


def _padded(body: bytes, padding: int) -> bytes:
    """The same answer with a `sandboxPadding` string of `padding` bytes first in the envelope: a
    client that reads it all holds it all (JD has been seen to answer hundreds of MB)."""
    if not padding:
        return body
    return b'{"sandboxPadding":"' + b"x" * padding + b'",' + body[1:]


def _business_params(raw: str | None) -> tuple[dict, str | None]:
    if raw is None or raw == "":
        return {}, None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"_unparsed": raw}, "360buy_param_json不是合法的JSON"
    if not isinstance(parsed, dict):
        return {"_unparsed": raw}, "360buy_param_json必须是JSON对象"
    return {k: ("***" if k in SECRET_PARAM_NAMES else v) for k, v in parsed.items()}, None


def handle(state: SandboxState, params: dict[str, str]) -> Reply:
    state.promote_due()
    generation = state.generation
    method, app_key = params.get("method") or None, params.get("app_key") or None
    business, parse_error = _business_params(params.get("360buy_param_json"))
    call = {"method": method, "app_key": app_key, "params": business}

    def finish(reply: Reply, code: str, success: bool | None, **extra) -> Reply:
        state.record_call({**call, "code": code, "success": success, **extra}, generation)
        reply.note = f"{method} {app_key} code={code}" + ("" if success is None else f" success={success}")
        return reply

    code = _authenticate(state, params)
    if code:
        return finish(json_reply(error_envelope(code)), code, None)

    fault, hung = _inject(state, app_key, method)
    if fault and fault[0] == "http":
        status = HTTPStatus(fault[1])
        body = f"{status.value} {status.phrase}\n".encode()
        return finish(
            Reply(status.value, body, "text/plain;charset=utf-8"), f"http-{status.value}", None, injected=True
        )
    dropped = fault[1] if fault and fault[0] == "drop" else None
    if fault and dropped is None:
        return finish(json_reply(error_envelope(fault[1])), fault[1], None, injected=True)
    if generation != state.generation:  # reset while hanging: the shop may be gone
        return json_reply(error_envelope("1"))
    state.promote_due()

    run, failure = METHODS[method]
    repeat = False
    try:
        if parse_error:
            raise BusinessError(parse_error, "360buy_param_json must be a JSON object")
        payload, success, *rest = run(state, app_key, business)
        repeat = bool(rest and rest[0])
    except BusinessError as error:
        payload, success = failure(error), False
    faults = state.effective_faults(app_key)
    _corrupt(payload, faults.get("corrupt_rows", []))
    reply = json_reply({response_key(method): {"code": "0", **payload}})
    reply.body = _padded(reply.body, faults.get("answer_padding_bytes", 0))
    extra = {"repeat": True} if repeat else {}
    if dropped is not None:
        # JD applied it; the answer never arrives in time: the client's timeout decides what it saw.
        state.record_call(
            {**call, "code": "dropped", "success": success, "injected": True, **extra}, generation
        )
        time.sleep(dropped)
        reply.note = f"{method} {app_key} code=dropped success={success}"
        return reply
    return finish(reply, "hang" if hung else "0", success, **extra)
