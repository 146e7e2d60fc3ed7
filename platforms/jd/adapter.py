"""JD behind the platform port (platforms/port.py): which JOS methods the ERP's verbs become, how
their answers are paged and read, and what a writeback answer means.

- list changed orders: `jingdong.pop.order.search` by `modified`;
- list changed after-sales: `jingdong.pop.afs.soa.refundapply.queryPageList`, by applyTime (new
  applications) then by checkTime (the ones JD moved);
- read by id (the fresh read before a writeback): queryPageList by `ids`;
- write back: `updateWarehouseStatus` (method and status values are settings: JD publishes no list).

Network only: no database, no transaction (the writeback calls it in threads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings

from platforms.credentials import TokenGrant
from platforms.errors import PlatformError
from platforms.port import (
    ACCEPTED,
    GOODS_IN_WAREHOUSE,
    NOT_SENT,
    ORDERS,
    READ_BATCH,
    REFUNDS,
    REFUSED,
    SHIPMENT_CANCELLED,
    UNKNOWN,
    Page,
    SetAside,
    Snapshot,
    WriteOutcome,
    safe_raw,
)

from . import codes, mapping, oauth
from .client import (
    SECRET_PARAMS,
    JosClient,
    check_business_result,
    check_order_search,
    check_write_result,
    redact,
)
from .errors import JosBusinessError, JosError, JosProtocolError
from .signing import jd_timestamp

logger = logging.getLogger(__name__)

ORDER_SEARCH = "jingdong.pop.order.search"
REFUND_QUERY = "jingdong.pop.afs.soa.refundapply.queryPageList"
ORDER_PAGE_SIZE = 100
REFUND_PAGE_SIZE = 50  # JD's maximum for queryPageList
# order.search returns only the states asked for and, of a row, only the optional fields asked for
# (the SDKs' field notes: "可选字段，需要在输入参数optional_fields中写入才能返回"): every state the
# mapping knows, and every field it reads.
ORDER_STATES = ",".join(mapping.JD_ORDER_STATE)
ORDER_FIELDS = ",".join(mapping.ORDER_SEARCH_FIELDS)


class JdPlatform:
    code = "jd"
    label = "京东"

    def __init__(self, shop, *, client: JosClient | None = None):
        self.shop = shop
        self._client = client  # tests pass one with a short sleep

    def _jos(self) -> JosClient:
        # A fresh client per verb unless one was given: a client keeps its last call's summary, and
        # the writeback calls several verbs at once in threads. Raises JosConfigurationError when the
        # shop's credentials are not filled in.
        return self._client or JosClient.for_shop(self.shop)

    # --- listing --------------------------------------------------------------------------------
    def list_changed(self, kind: str, start: datetime, end: datetime) -> Iterator[Page]:
        client = self._jos()
        if kind == ORDERS:
            yield from self._changed_orders(client, start, end)
        elif kind == REFUNDS:
            yield from self._changed_refunds(client, start, end)
        else:
            raise ValueError(f"unknown kind {kind!r}")

    def _changed_orders(self, client, start, end):
        start_text, end_text = query_range(start, end)

        def fetch(page):
            payload = client.call(
                ORDER_SEARCH,
                {
                    "start_date": start_text,
                    "end_date": end_text,
                    "order_state": ORDER_STATES,
                    "optional_fields": ORDER_FIELDS,
                    # The SDKs send the page numbers as strings (SetPage(strconv.Itoa(…))).
                    "page": str(page),
                    "page_size": str(ORDER_PAGE_SIZE),
                    "dateType": 0,  # 0: by the order's last change (1: by its creation)
                },
            )
            result = check_order_search(payload)
            return rows_and_total(result, "orderInfoList", "orderTotal")

        for items in pages(fetch, ORDER_PAGE_SIZE):
            if items:
                yield order_page(items)

    def _changed_refunds(self, client, start, end):
        # New applications by applyTime, then changes (status, refunds done) by checkTime: JD (and
        # the sandbox) set checkTime when an application moves.
        start_text, end_text = query_range(start, end)
        for field in ("applyTime", "checkTime"):

            def fetch(page, field=field):
                payload = client.call(
                    REFUND_QUERY,
                    {
                        f"{field}Start": start_text,
                        f"{field}End": end_text,
                        "pageIndex": page,
                        "pageSize": REFUND_PAGE_SIZE,
                        # Without it JD leaves out the goods (skuVoList), and a slip could not be
                        # matched to its order line.
                        "showSku": True,
                    },
                )
                result = check_business_result(payload, "queryResult")
                # Only the network here: at JD's latency this thread is the critical path, and the
                # rows are read and checked in the caller's thread while the next page is on its way.
                return rows_and_total(result, "result", "totalCount")

            for items in pages(fetch, REFUND_PAGE_SIZE):
                if items:
                    yield refund_page(items)

    # --- the fresh read -------------------------------------------------------------------------
    def read(self, refs: Sequence[str]) -> Snapshot:
        refs = list(refs)[:READ_BATCH]
        params = {"ids": ",".join(refs), "pageIndex": 1, "pageSize": READ_BATCH}
        snapshot = Snapshot(request={"method": REFUND_QUERY, "params": params})
        try:
            payload = self._jos().call(REFUND_QUERY, params)
            rows, _ = rows_and_total(check_business_result(payload, "queryResult"), "result", "totalCount")
        except PlatformError as error:
            snapshot.error = error
            return snapshot
        wanted = set(refs)
        for item in rows:
            ref = mapping.platform_id(item, "id")
            if ref not in wanted:
                continue
            try:
                snapshot.rows[ref] = mapping.refund_fields(item)
            except mapping.BadRow as problem:
                snapshot.unreadable[ref] = problem.reason
        return snapshot

    # --- writebacks -----------------------------------------------------------------------------
    def write_shipment_cancelled(self, slip) -> WriteOutcome:
        return self._write(slip, SHIPMENT_CANCELLED)

    def write_goods_in_warehouse(self, slip) -> WriteOutcome:
        return self._write(slip, GOODS_IN_WAREHOUSE)

    def _write(self, slip, kind: str) -> WriteOutcome:
        method, params = writeback_call(slip, kind)
        outcome = WriteOutcome(NOT_SENT, request={"method": method, **redact(params)})
        client = None
        try:
            client = self._jos()
            payload = client.call(method, params)
            check_write_result(payload, "returnType")
        except JosBusinessError as error:
            outcome.outcome, outcome.code, outcome.words = REFUSED, error.result_code, error.result_msg
            outcome.error, outcome.response = error, {"code": error.code, "message": error.user_message}
        except JosError as error:
            outcome.outcome = _failed_outcome(error)
            outcome.code, outcome.words = error.code, error.zh_desc
            outcome.error, outcome.response = error, {"code": error.code, "message": error.user_message}
        else:
            outcome.outcome, outcome.response = ACCEPTED, payload
        outcome.attempts = (client.last_call or {}).get("attempts", 1) if client else 0
        return outcome

    def state_label(self, code: str) -> str:
        return codes.state_label(code)

    # --- authorisation (JD's OAuth: platforms/jd/oauth.py) ---------------------------------------
    def authorize_url(self, redirect_uri: str, state: str) -> str:
        return oauth.authorize_url(self.shop.app_key, redirect_uri, state)

    def exchange_code(self, code: str) -> TokenGrant:
        return oauth.exchange_code(self.shop.app_key, self.shop.app_secret, code)

    def refresh_credentials(self, refresh_token: str) -> TokenGrant:
        return oauth.refresh(self.shop.app_key, self.shop.app_secret, refresh_token)


def _failed_outcome(error: JosError) -> str:
    """A JOS error on a write: the answer was lost after the request may have arrived (unknown), JD
    answered no (a gateway refusal: an error_response, an HTTP 4xx), or the request never left (no
    credentials, the rate limiter down, the connection refused)."""
    if error.outcome_unknown:
        return UNKNOWN
    if error.code.isdigit() or getattr(error, "status", None) is not None:
        return REFUSED
    return NOT_SENT


def warehouse_status_for(kind: str) -> str:
    if kind == SHIPMENT_CANCELLED:
        return settings.JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED
    return settings.JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE


def writeback_call(slip, kind: str) -> tuple[str, dict]:
    """The one adapter between what we tell JD and JD's API: (method, business parameters).

    取消发货成功 rides on refundapply.updateWarehouseStatus. For 退货入仓 JD does not say publicly
    whether SA reads it from the same method or from the after-sales service order (jingdong.asc.*),
    so its method is a setting of its own (JOS_RETURN_WRITEBACK_METHOD, by default the same method)
    with its status value (JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE)."""
    method = (
        settings.JOS_WRITEBACK_METHOD if kind == SHIPMENT_CANCELLED else settings.JOS_RETURN_WRITEBACK_METHOD
    )
    # Typed as the SDKs type them: orderId and refId Long, status Integer (numbers in the JSON).
    return method, {
        "orderId": _number(slip.tid),
        "refId": _number(slip.platform_id or slip.refund_no),
        "status": _number(warehouse_status_for(kind)),
    }


def _number(value):
    """JD's ids are numbers; a value that is not one is sent as it is (JD then refuses it)."""
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdigit() else text


# --- paging ----------------------------------------------------------------------------------------
def query_range(start: datetime, end: datetime) -> tuple[str, str]:
    """JD's times have whole seconds and the end is exclusive: a row changed during the current
    second would fall outside `end` truncated, so the query ends at the next whole second."""
    return jd_timestamp(start), jd_timestamp(end.replace(microsecond=0) + timedelta(seconds=1))


def pages(fetch: Callable[[int], tuple[list, int]], page_size: int, passes: int = 3) -> Iterator[list]:
    """Yield pages in order, fetching page n+1 while the caller works on page n.

    If the total changes while we walk (a row entered or left the window), rows may have shifted
    across a page boundary: walk the window again (the upserts make a repeat cheap and harmless)."""
    for _ in range(passes):
        items, total = fetch(1)
        totals = {total}
        count = max(1, -(-total // page_size))
        with ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = pool.submit(fetch, 2) if count > 1 else None
            yield items
            for index in range(2, count + 1):
                items, seen = upcoming.result()
                totals.add(seen)
                upcoming = pool.submit(fetch, index + 1) if index < count else None
                yield items
        if len(totals) == 1:
            return
    logger.warning("JD window kept changing while paging; the next run's overlap catches up")


def rows_and_total(result: dict, rows_key: str, total_key: str) -> tuple[list, int]:
    """A page's rows and the window's total. A bad row is set aside later; a page whose list or
    total cannot be read at all is an unreadable answer: the run fails with this reason, keeps its
    cursor, and the next run asks again."""
    rows = result.get(rows_key) or []
    total = result.get(total_key) or 0
    if not isinstance(rows, list) or isinstance(total, bool) or not str(total).strip().isdigit():
        raise JosProtocolError(
            f"京东接口返回的 {rows_key}/{total_key} 无法识别（{str(rows)[:40]} / {str(total)[:40]}），下次同步时自动重试"
        )
    return rows, int(str(total).strip())


# --- one page of JD rows → the port's normalised rows -------------------------------------------
def refund_page(items: list) -> Page:
    page = Page(rows=[])
    for item in items:
        notes: list[str] = []
        try:
            fields = mapping.refund_fields(item, notes)
        except mapping.BadRow as problem:
            page.set_aside.append(_set_aside(item, "id", problem.reason))
            continue
        if notes:
            page.set_aside.append(_set_aside(item, "id", "；".join(notes), cut=True))
        page.rows.append(fields)
    return page


def order_page(items: list) -> Page:
    page = Page(rows=[])
    for item in items:
        try:
            fields, lines, notes = mapping.order_with_lines(item)
            promotions = mapping.order_promotions(item)
        except mapping.BadRow as problem:
            page.set_aside.append(_set_aside(item, "orderId", problem.reason))
            continue
        if notes:
            page.set_aside.append(_set_aside(item, "orderId", "；".join(notes), cut=True))
        page.rows.append({"order": fields, "lines": lines, "promotions": promotions})
    return page


def _set_aside(item, id_key: str, reason: str, *, cut: bool = False) -> SetAside:
    return SetAside(mapping.platform_id(item, id_key), reason, safe_raw(item, SECRET_PARAMS), cut=cut)
