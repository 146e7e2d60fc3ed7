"""One error shape for every answer that is not a success:

    {"code": "validation_error", "message": "…", "errors": [{"index": 3, "field": "refund_amount",
     "message": "…"}]}

`index` is the item's position in a bulk request (null otherwise); `field` a dotted path inside the
item (lines.0.num), or a query parameter's name. No stack trace or SQL ever reaches the caller:
unexpected errors are logged and answered with a 500 in the same shape.

One `code` per HTTP status (ErrorCode). A refused input is 400 when the request does not match the
schema, 422 when it does and the data breaks a rule the schema cannot state (ErrorDetail code RULE,
raised by api.serializers.rule or with BulkValidationError(rule=True)); a bulk request with both kinds
is a 400 listing both."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

logger = logging.getLogger(__name__)

# The ErrorDetail code of a refusal on a rule beyond the schema (answered 422). So do DRF's own
# refusals of what a schema cannot exclude: a NUL character (PostgreSQL cannot store one) and a time
# that does not exist at +08:00 (9999-12-31T23:59:59Z).
RULE = "rule"
RULE_CODES = {RULE, "null_characters_not_allowed", "surrogate_characters_not_allowed", "overflow"}


class ErrorCode(models.TextChoices):
    VALIDATION_ERROR = "validation_error", "400 请求不符合接口定义（类型、长度、格式、未知字段或参数）"
    NOT_AUTHENTICATED = "not_authenticated", "401 未认证：缺少、无效、已吊销或已过期的 API密钥"
    FORBIDDEN = "forbidden", "403 无权执行：例如密钥没有退款单审核级别"
    NOT_FOUND = "not_found", "404 地址或对象不存在（或属于其他店铺）"
    METHOD_NOT_ALLOWED = "method_not_allowed", "405 不支持该请求方法（Allow 头列出支持的方法）"
    NOT_ACCEPTABLE = "not_acceptable", "406 只能返回 application/json"
    CONFLICT = "conflict", "409 对象当前的状态不允许该操作，或与同时进行的写入冲突"
    PAYLOAD_TOO_LARGE = "payload_too_large", "413 请求体过大"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "415 请求体须为 application/json"
    RULE_VIOLATION = "rule_violation", "422 数据符合接口定义，但不满足业务规则（errors 说明每一条）"
    THROTTLED = "throttled", "429 请求过于频繁（Retry-After 头给出秒数）"
    SERVER_ERROR = "server_error", "500 服务器内部错误"


CODES = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.RULE_VIOLATION,
    429: ErrorCode.THROTTLED,
    500: ErrorCode.SERVER_ERROR,
}
MESSAGES = {
    400: "请求数据有误，详见 errors",
    401: "未认证：请在 Authorization 头中提供 Bearer API密钥",
    403: "无权执行该操作",
    404: "对象不存在",
    405: "不支持该请求方法",
    406: "不支持请求的响应格式，请接受 application/json",
    415: "请求体须为 JSON（Content-Type: application/json）",
    422: "数据不满足业务规则，详见 errors",
    429: "请求过于频繁，请稍后重试",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class Refused(exceptions.APIException):
    """A verb refused on the object's state (e.g. a return slip that cannot take an inbound)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def flatten(detail, index=None, prefix="") -> list[dict]:
    """DRF's nested error detail → [{"index", "field", "message"}]."""
    out = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors",) else str(key)
            out += flatten(value, index, f"{prefix}.{name}" if prefix and name else (name or prefix))
    elif isinstance(detail, list):
        if detail and all(isinstance(d, str) for d in detail):
            out += [{"index": index, "field": prefix, "message": str(d)} for d in detail]
        else:
            for position, value in enumerate(detail):
                if value:
                    out += flatten(value, index, f"{prefix}.{position}" if prefix else str(position))
    else:
        out.append({"index": index, "field": prefix, "message": str(detail)})
    return out


def only_rules(detail) -> bool:
    """Whether every refusal in a DRF error detail is a rule beyond the schema (see RULE)."""
    if isinstance(detail, dict):
        values = list(detail.values())
    elif isinstance(detail, list):
        values = detail
    else:
        return getattr(detail, "code", None) in RULE_CODES
    leaves = [v for v in values if v]
    return bool(leaves) and all(only_rules(v) for v in leaves)


def error_body(code: str, message: str, errors=None) -> dict:
    return {"code": str(code), "message": message, "errors": errors or []}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_handler(exc, context)
    if response is None:
        logger.exception("API 内部错误", exc_info=exc)
        return Response(error_body("server_error", "服务器内部错误，请稍后重试或联系管理员"), status=500)
    errors = getattr(exc, "bulk_errors", None)
    if isinstance(exc, exceptions.ValidationError):
        rule = exc.rule if isinstance(exc, BulkValidationError) else only_rules(exc.detail)
        if rule:
            response.status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
        if errors is None:
            errors = flatten(exc.detail)
    code = CODES.get(response.status_code) or (
        ErrorCode.SERVER_ERROR if response.status_code >= 500 else ErrorCode.VALIDATION_ERROR
    )
    if isinstance(exc, exceptions.ValidationError):
        message = MESSAGES[response.status_code]
    elif isinstance(exc.detail, str | exceptions.ErrorDetail) and response.status_code not in (405, 406, 415):
        message = str(exc.detail)
    else:
        message = MESSAGES.get(response.status_code, str(exc.detail))
    if response.status_code == 401 and isinstance(exc, exceptions.NotAuthenticated):
        message = MESSAGES[401]
    if response.status_code == 404 and not isinstance(exc.detail, str):
        message = MESSAGES[404]
    response.data = error_body(code, message, errors)
    return response


class BulkValidationError(exceptions.ValidationError):
    """Errors already listed as [{"index", "field", "message"}]; `rule=True` when every one is a rule
    beyond the schema (a refund_no the shop does not have, an oid not on the order…): 422."""

    def __init__(self, errors: list[dict], message: str = MESSAGES[400], *, rule: bool = False):
        super().__init__(message)
        self.bulk_errors = errors
        self.rule = rule


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """The site's 404: the API's error shape under /api/, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if _is_api(request):
        return JsonResponse(error_body("not_found", "接口或对象不存在"), status=404)
    return page_not_found(request, exception)


def server_error(request):
    from django.http import JsonResponse
    from django.views.defaults import server_error as django_server_error

    if _is_api(request):
        return JsonResponse(error_body("server_error", "服务器内部错误，请稍后重试或联系管理员"), status=500)
    return django_server_error(request)
