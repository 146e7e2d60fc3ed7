"""The API's JSON parser: every malformed body is a 4xx that says what is wrong, never a 500.

What it refuses, before or while decoding, each with a message naming the problem:
- a body past `API_MAX_BODY_BYTES` (413, also when no Content-Length announced it);
- text that is not valid in its charset (UTF-8 unless the Content-Type says otherwise);
- nesting deeper than `API_MAX_JSON_DEPTH`: Python's decoder recurses once per level, and a
  100,000-deep body would end in RecursionError. The depth is measured first, without recursion,
  by scanning the brackets outside strings;
- NaN / Infinity literals and numbers a float cannot hold (1e999): not JSON numbers;
- strings holding half of a UTF-16 surrogate pair ("\\ud800"): no database can store them.
Duplicate keys are left to JSON's rule (the last one wins)."""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from .errors import PayloadTooLarge
from .serializers import MAX_BULK_ITEMS

# A whole string (escapes included), a bracket, or a quote that opens a string never closed.
TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
SURROGATE = re.compile("[\ud800-\udfff]")


class BadBody(exceptions.ParseError):
    """A body refused by this parser: its message is already the caller's answer."""

    def __init__(self, message: str, field: str = "", detail: str | None = None):
        super().__init__(message)
        self.bulk_errors = [{"index": None, "field": field, "message": detail or message}]


def too_large(limit: int, size: int | None = None) -> PayloadTooLarge:
    size_text = f" {size} 字节" if size is not None else ""
    return PayloadTooLarge(
        f"请求体{size_text}超过上限 {limit} 字节：请分批提交（每批最多 {MAX_BULK_ITEMS} 条）"
    )


def nesting_depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit`: a scan, no recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: not even that many brackets in all
    depth = 0
    for match in TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
        elif token == '"':
            return False  # a string never closed: the decoder refuses it at that point
    return False


def _refuse_constant(name: str):
    raise BadBody(f"{name} 不是有效的 JSON 数值")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadBody(f"数字 {literal[:40]} 超出范围")
    return value


def surrogate_path(data) -> str | None:
    """The dotted path of the first string (value or key) holding a lone surrogate, or None."""
    stack = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if SURROGATE.search(key):
                    return path or ""
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(value))
    return None


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            # No (or a false) Content-Length: ApiView.initial could not refuse it before reading.
            raise too_large(limit)
        encoding = (parser_context.get("encoding") or "utf-8").lower()
        try:
            # A UTF-8 byte-order mark is tolerated (some Windows tools write one).
            text = raw.decode("utf-8-sig" if encoding.replace("_", "-") in ("utf-8", "utf8") else encoding)
        except UnicodeError as error:
            where = f"（第 {error.start + 1} 个字节起）" if isinstance(error, UnicodeDecodeError) else ""
            raise BadBody(f"请求体不是有效的 {encoding.upper()} 文本{where}") from None
        except LookupError:  # a codec that is not a text encoding (charset=base64)
            raise BadBody(f"不支持的字符集 {encoding}：请使用 UTF-8") from None
        depth = settings.API_MAX_JSON_DEPTH
        if nesting_depth_exceeds(text, depth):
            raise BadBody(f"请求体 JSON 嵌套超过 {depth} 层：本接口的数据最多嵌套 {depth} 层")
        try:
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except json.JSONDecodeError as error:
            raise BadBody(
                "请求体不是有效的 JSON", detail=f"第 {error.lineno} 行第 {error.colno} 列附近不是有效的 JSON"
            ) from None
        except RecursionError:
            # Not reachable past the depth check; kept so that no body can ever become a 500.
            raise BadBody(f"请求体 JSON 嵌套过深：本接口的数据最多嵌套 {depth} 层") from None
        except ValueError:
            # int() refuses numbers of more than 4,300 digits.
            raise BadBody("请求体中的数字位数过多") from None
        if SURROGATE_ESCAPE.search(text):
            path = surrogate_path(data)
            if path is not None:
                raise BadBody("含有无效的 Unicode 字符（不成对的 UTF-16 代理项，如 \\ud800）", field=path)
        return data
