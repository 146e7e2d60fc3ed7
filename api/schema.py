"""OpenAPI extras: the Bearer key scheme, the webhook payloads, and the post-processing that makes
the schema one a client generator can use as it is and that says what the API does.

Post-processing hooks (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"], in this order around
drf-spectacular's enum hook):
- `add_webhooks`: the events a subscription receives, as components (RawRefundEvent…) and under
  `x-webhooks` (OpenAPI 3.0 has no `webhooks`; 3.1's shape under an extension name);
- `for_generators`: ASCII names only (a model field's Chinese verbose name becomes a `title`, which
  generators turn into class names: it moves to the description), a query parameter's enum points at
  the shared enum component, every enum carries `x-enum-varnames` (its Python member names), request
  bodies refuse unknown properties (`additionalProperties: false`, as the API does);
- `add_error_responses`: the error answers every operation can give, with their headers.
"""

from __future__ import annotations

import re
from importlib import import_module

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import process_webhooks
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
JSON_ERROR = {"application/json": {"schema": ERROR_REF}}
COMMON_ERRORS = {
    "400": "请求不符合接口定义（errors 列出每个出错的条目、字段或查询参数）",
    "401": "未认证、API密钥无效、已吊销或已过期",
    "404": "对象不存在（或属于其他店铺）",
    "406": "只能返回 application/json（Accept 头）",
    "413": "请求体过大",
    "422": "数据符合接口定义，但不满足业务规则（errors 说明每一条）",
    "429": "请求过于频繁，Retry-After 头给出需等待的秒数",
    "500": "服务器内部错误（已记录日志）",
}
BODY_ERRORS = {"415": "请求体须为 JSON（Content-Type: application/json）"}
RATE_HEADERS = {
    "RateLimit-Limit": "每个 API密钥每分钟可用的请求数（API_RATE_LIMIT_PER_MINUTE；为 0 时不限、不发这些头）",
    "RateLimit-Remaining": "此刻还可发出的请求数（滑动窗口：最近 60 秒）",
    "RateLimit-Reset": "多少秒后额度完全恢复",
    "RateLimit-Policy": "限额策略，例如 600;w=60（每 60 秒 600 次）",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "运营在后台“API密钥”中为店铺创建的密钥：Authorization: Bearer erp_xxxxxxxx_…",
        }


class AmountField(OpenApiSerializerFieldExtension):
    """An input amount: the exact pattern api.serializers.Amount checks (no sign, two decimals)."""

    target_class = "api.serializers.Amount"

    def map_serializer_field(self, auto_schema, direction):
        from .serializers import AMOUNT_PATTERN

        return {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "12.30"}


# --- webhooks -----------------------------------------------------------------------------------
def _webhook(name: str, serializer: str, summary: str) -> OpenApiWebhook:
    from . import serializers as s

    return OpenApiWebhook(
        name=name,
        decorator=extend_schema(
            summary=summary,
            description=(
                "由后台 POST 到订阅的接收地址。请求头 X-ERP-Signature: sha256=<用订阅密钥对原始请求体做的"
                " HMAC-SHA256>，X-ERP-Event: 事件类型，X-ERP-Delivery: 投递编号。返回 2xx 表示已收到；"
                "其他结果按退避重试。至少投递一次：用 id 去重。时间均为 +08:00。"
            ),
            request=getattr(s, serializer),
            responses={200: OpenApiResponse(description="已收到（任何 2xx）")},
        ),
    )


def webhooks() -> list[OpenApiWebhook]:
    return [
        _webhook("raw_refund.changed", "RawRefundEvent", "原始退款单新建或变化"),
        _webhook("raw_refund.writeback", "RawRefundEvent", "原始退款单回传状态变化"),
        _webhook("return_slip.changed", "ReturnSlipEvent", "退货单新建或状态变化"),
        _webhook("refund_slip.changed", "RefundSlipEvent", "退款单新建或状态变化"),
    ]


def add_webhooks(result, generator, request, public):
    hooks = process_webhooks(webhooks(), generator.registry)
    # The payloads were registered after the components were built: build them again.
    result["components"] = generator.registry.build(spectacular_settings.APPEND_COMPONENTS)
    result["x-webhooks"] = hooks
    return result


# --- names and enums for generators -------------------------------------------------------------
def _varname(value) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", str(value)).strip("_").upper() or "EMPTY"


def _import(path: str):
    """Like import_string, also for a class nested in a class (sa_sync.models.AutoWritebackRun.Status)."""
    module, _, rest = path.partition(".")
    parts = rest.split(".")
    for depth in range(len(parts), 0, -1):
        try:
            target = import_module(".".join([module, *parts[: depth - 1]]))
        except ImportError:
            continue
        for attribute in parts[depth - 1 :]:
            target = getattr(target, attribute)
        return target
    raise ImportError(path)


def _enum_choices() -> dict[str, list[tuple]]:
    """Enum component name → [(value, English member name, label)], from ENUM_NAME_OVERRIDES."""
    out = {}
    for name, target in spectacular_settings.ENUM_NAME_OVERRIDES.items():
        choices = _import(target) if isinstance(target, str) else target
        if isinstance(choices, type):  # a Django Choices class: its members' names
            out[name] = [(member.value, member.name, str(member.label)) for member in choices]
        else:
            out[name] = [(value, _varname(value), str(label)) for value, label in choices]
    return out


CHOICE_LINE = re.compile(r"^\* `(.*)` - (.*)$", re.MULTILINE)


def _walk(node, visit):
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _title_to_description(node: dict) -> None:
    title = node.pop("title", None) if isinstance(node.get("title"), str) else None
    if title and not node.get("description"):
        node["description"] = title


def _blank_or_pattern(node: dict) -> None:
    branches = node.get("oneOf")
    if (
        not isinstance(branches, list)
        or len(branches) != 2
        or branches[1] != {"type": "string", "maxLength": 0}
    ):
        return
    first = branches[0]
    pattern = first.get("pattern", "")
    if first.get("type") != "string" or not (pattern.startswith("^") and pattern.endswith("$")):
        return
    del node["oneOf"]
    node.update({**first, "pattern": f"^(?:{pattern[1:-1]})?$"})
    node.pop("minLength", None)


def for_generators(result, generator, request, public):
    from .serializers import StrictMixin

    schemas = result.get("components", {}).get("schemas", {})
    choices = _enum_choices()
    enums = {}  # {(value, label) as text, …} → component name: the same values can mean different things
    for name, schema in schemas.items():
        if "enum" not in schema:
            continue
        known = {value: varname for value, varname, _ in choices.get(name, [])}
        schema["x-enum-varnames"] = [known.get(value) or _varname(value) for value in schema["enum"]]
        if name in choices:
            enums[frozenset((str(value), label) for value, _, label in choices[name])] = name
    # "Empty, or this pattern" as one pattern: drf-spectacular's oneOf of two strings becomes a
    # wrapper class in some generators.
    _walk(schemas, _blank_or_pattern)
    # Properties and parameters: no titles (generators name classes after them).
    _walk(result.get("paths", {}), _title_to_description)
    _walk(schemas, _title_to_description)
    _walk(result.get("x-webhooks", {}), _title_to_description)
    # A parameter's enum is the same type as the field's: point at the shared component.
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if "enum" in schema:
                    labelled = frozenset(CHOICE_LINE.findall(parameter.get("description", "")))
                    name = enums.get(labelled)
                    if name:
                        parameter["schema"] = {"$ref": f"#/components/schemas/{name}"}
    strict_doc = (StrictMixin.__doc__ or "").strip()
    for name, schema in schemas.items():
        if (schema.get("description") or "").strip() == strict_doc:
            del schema["description"]
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False  # unknown fields are refused (api.serializers)
            _list_lengths(name.removesuffix("Request"), schema)
    return result


def _list_lengths(serializer_name: str, schema: dict) -> None:
    """A nested list's min_length/max_length (DRF checks them) as minItems/maxItems, which
    drf-spectacular leaves out for a list of serializers."""
    from rest_framework.serializers import ListSerializer

    from . import serializers

    serializer_class = getattr(serializers, serializer_name, None)
    if serializer_class is None:
        return
    for field_name, field in serializer_class().fields.items():
        target = schema.get("properties", {}).get(field_name)
        if not isinstance(field, ListSerializer) or target is None:
            continue
        if field.min_length is not None:
            target["minItems"] = field.min_length
        if field.max_length is not None:
            target["maxItems"] = field.max_length


def add_error_responses(result, generator, request, public):
    """Every /api/v1/ operation documents the shared error shape for the failures any call can meet,
    and the rate-limit headers every answer to a key carries."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **(BODY_ERRORS if method in ("post", "put", "patch") else {})}
            for code, description in errors.items():
                responses.setdefault(code, {"description": description, "content": JSON_ERROR})
            for code, response in responses.items():
                headers = response.setdefault("headers", {})
                for name, description in RATE_HEADERS.items():
                    schema = (
                        {"type": "string"}
                        if name == "RateLimit-Policy"
                        else {"type": "integer", "minimum": 0}
                    )
                    headers.setdefault(name, {"schema": schema, "description": description})
                if code == "429":
                    headers["Retry-After"] = {
                        "schema": {"type": "integer", "minimum": 1},
                        "required": True,
                        "description": "多少秒后可再发请求",
                    }
    return result
