"""One error shape for every answer that is not a success:

    {"code": "validation_error", "message": "…", "errors": [{"index": 3, "field": "refund_amount",
     "message": "…"}]}

`index` is the item's position in a bulk request (null otherwise); `field` a dotted path inside the
item (lines.0.num). No stack trace or SQL ever reaches the caller: unexpected errors are logged and
answered with a 500 in the same shape."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

logger = logging.getLogger(__name__)

CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
MESSAGES = {
    400: "请求数据有误，详见 errors",
    401: "未认证：请在 Authorization 头中提供 Bearer API密钥",
    404: "对象不存在",
    405: "不支持该请求方法",
    406: "不支持请求的响应格式，请接受 application/json",
    415: "请求体须为 JSON（Content-Type: application/json）",
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


def error_body(code: str, message: str, errors=None) -> dict:
    return {"code": code, "message": message, "errors": errors or []}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_handler(exc, context)
    if response is None:
        logger.exception("API 内部错误", exc_info=exc)
        return Response(error_body("server_error", "服务器内部错误，请稍后重试或联系管理员"), status=500)
    code = CODES.get(response.status_code, "error")
    errors = getattr(exc, "bulk_errors", None)
    if errors is None and isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
    if isinstance(exc, exceptions.ValidationError):
        message = MESSAGES[400]
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
    def __init__(self, errors: list[dict], message: str = MESSAGES[400]):
        super().__init__(message)
        self.bulk_errors = errors


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
