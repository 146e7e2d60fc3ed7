from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

from .errors import RULE


class IdCursorPagination(CursorPagination):
    """Newest first, by id: stable under inserts, cheap at any depth (no OFFSET)."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_description = "分页游标：取上一页响应中的 next / previous 链接，不要自己拼（无效的游标 422）"
    page_size_query_description = "每页条数（1-500，默认 100）"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            # An unreadable cursor is bad input, not a missing object; any string is one by the
            # schema, so it is the rule "take it from next/previous" that it breaks.
            raise exceptions.ValidationError({"cursor": ["无效的分页游标"]}, code=RULE) from None

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
                raise exceptions.ValidationError({"page_size": [f"须为 1-{self.max_page_size} 的整数"]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["schema"] = {"type": "string", "minLength": 1}
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        for name in ("next", "previous"):
            link = answer["properties"][name]
            link.pop("example", None)
            link["description"] = "下一页（或上一页）的完整地址；没有时为 null"
        answer["required"] = ["next", "previous", "results"]
        return answer
