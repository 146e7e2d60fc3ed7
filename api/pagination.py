from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first, by id: stable under inserts, cheap at any depth (no OFFSET)."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_description = "分页游标：取上一页响应中的 next / previous 链接"
    page_size_query_description = "每页条数（1-500，默认 100）"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            # An unreadable cursor is bad input, not a missing object.
            raise exceptions.ValidationError({"cursor": ["无效的分页游标"]}) from None

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
                raise exceptions.ValidationError({"page_size": [f"须为 1-{self.max_page_size} 的整数"]})
        return super().get_page_size(request)
