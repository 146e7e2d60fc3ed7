"""OpenAPI extras: the Bearer key scheme, and the error answers every operation can give."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
COMMON_ERRORS = {
    "400": "请求参数或数据有误（errors 列出每个出错的条目与字段）",
    "401": "未认证、API密钥无效、已吊销或已过期",
    "404": "对象不存在（或属于其他店铺）",
    "413": "请求体过大",
    "429": "请求过于频繁，Retry-After 头给出需等待的秒数",
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


def add_error_responses(result, generator, request, public):
    """Every /api/v1/ operation documents the shared error shape for the failures any call can meet."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in COMMON_ERRORS.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
                )
            if "429" in responses:
                responses["429"].setdefault(
                    "headers", {"Retry-After": {"schema": {"type": "integer"}, "description": "需等待的秒数"}}
                )
    return result
