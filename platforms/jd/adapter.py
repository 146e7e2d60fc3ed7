"""JD behind the platform port (platforms/port.py): which JOS methods the ERP's verbs become, how
their answers are paged and read, and what a writeback answer means.

- list changed orders: `jingdong.pop.order.search` by `modified`;
- list changed after-sales: `jingdong.pop.afs.soa.refundapply.queryPageList`, by applyTime (new
  applications) then by checkTime (the ones JD moved);
- list changed service orders (服务单: JD's returns, exchanges, repairs and reissues after receipt):
  `jingdong.asc.query.list` by `updateTime` (platforms/jd/service_orders.py maps a row);
- read by id (the fresh read before a writeback): queryPageList by `ids`; a service order by
  `asc.query.list` with its `serviceId`;
- write back: `updateWarehouseStatus` (method and status values are settings: JD publishes no list);
  退货入仓 on a service order: `asc.receive.register`, or `updateWarehouseStatus` naming the application
  behind it, as the shop chooses (Shop.service_order_return_signal; docs/returns.md).

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
    SERVICE_ORDERS,
    SHIPMENT_CANCELLED,
    UNKNOWN,
    Page,
    SetAside,
    Snapshot,
    WriteOutcome,
    safe_raw,
)

from . import codes, mapping, oauth, service_orders
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
ASC_QUERY_LIST = "jingdong.asc.query.list"
ASC_RECEIVE_REGISTER = "jingdong.asc.receive.register"
WAREHOUSE_STATUS = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
ASC_PAGE_SIZE = 50  # the asc list methods' maximum (1-50)
# Who acts, as the asc methods want it named (operatePin / operateNick; any value is taken).
ASC_OPERATOR = ("erp_aftersales", "ERP售后")
# 收货登记 as a brand's integration sends JD's "同意收货": package, function, invoice and appearance in
# order (10), the usual reason and accessories (1). JD publishes the codes' meanings to ISVs only.
RECEIPT_STATES = {
    "packingState": 10,
    "qualityState": 10,
    "invoiceRecord": 10,
    "judgmentReason": 1,
    "accessoryOrGift": 1,
    "appearanceState": 10,
}


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
        elif kind == SERVICE_ORDERS:
            yield from self._changed_service_orders(client, start, end)
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

    def _asc_params(self) -> dict:
        """Who asks: the merchant (buId, JD's 商家ID) and an operator, as every asc method wants."""
        if not self.shop.vender_id:
            # Not a credential problem: the shop's other calls go on; this one cannot be made.
            raise JosError(
                "店铺未填写京东商家ID（vender_id），无法读取或回传京东服务单：请运营在店铺设置中填写",
                code="NO_VENDER_ID",
            )
        return {"buId": self.shop.vender_id, "operatePin": ASC_OPERATOR[0], "operateNick": ASC_OPERATOR[1]}

    def _changed_service_orders(self, client, start, end):
        # One pass by updateTime: JD stamps it when a service order is made and whenever it moves.
        start_text, end_text = query_range(start, end)
        who = self._asc_params()

        def fetch(page):
            payload = client.call(
                ASC_QUERY_LIST,
                {
                    **who,
                    "updateTimeBegin": start_text,
                    "updateTimeEnd": end_text,
                    "pageNumber": page,
                    "pageSize": ASC_PAGE_SIZE,
                },
            )
            return rows_and_total(check_business_result(payload, "pageResult"), "data", "totalCount")

        for items in pages(fetch, ASC_PAGE_SIZE):
            if items:
                yield service_order_page(items)

    def _service_order_row(self, client, service_id: str) -> dict | None:
        """One service order as asc.query.list shows it (the view has no waybill), or None."""
        payload = client.call(
            ASC_QUERY_LIST,
            {**self._asc_params(), "serviceId": _number(service_id), "pageNumber": 1, "pageSize": 1},
        )
        rows, _ = rows_and_total(check_business_result(payload, "pageResult"), "data", "totalCount")
        return next((r for r in rows if service_orders.platform_id(r) == service_id), None)

    # --- the fresh read -------------------------------------------------------------------------
    def read(self, refs: Sequence[str], objects=None) -> Snapshot:
        refs = list(refs)[:READ_BATCH]
        objects = objects or {}
        services = [r for r in refs if objects.get(r) == service_orders.SERVICE_ORDER]
        refs = [r for r in refs if r not in services]
        if not refs:
            return self._read_service_orders(services, Snapshot(request={"method": ASC_QUERY_LIST}))
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
        return self._read_service_orders(services, snapshot) if services else snapshot

    def _read_service_orders(self, refs: list[str], snapshot: Snapshot) -> Snapshot:
        """Service orders one by one (asc.query.list takes one serviceId): few per batch, since a
        batch holds the slips a writeback is about to send."""
        snapshot.request.setdefault("service_orders", refs)
        try:
            client = self._jos()
            for ref in refs:
                item = self._service_order_row(client, ref)
                if item is None:
                    continue
                try:
                    snapshot.rows[ref] = service_orders.service_order_fields(item)
                except mapping.BadRow as problem:
                    snapshot.unreadable[ref] = problem.reason
        except PlatformError as error:
            snapshot.error = error
        return snapshot

    # --- writebacks -----------------------------------------------------------------------------
    def write_shipment_cancelled(self, slip) -> WriteOutcome:
        return self._write(slip, SHIPMENT_CANCELLED)

    def write_goods_in_warehouse(self, slip) -> WriteOutcome:
        return self._write(slip, GOODS_IN_WAREHOUSE)

    def _write(self, slip, kind: str) -> WriteOutcome:
        client = None
        if getattr(slip, "platform_object", "") == service_orders.SERVICE_ORDER:
            try:
                client = self._jos()
                method, params = self._service_order_call(client, slip, kind)
            except PlatformError as error:  # not sent: the shop's merchant id or the application is missing
                outcome = WriteOutcome(NOT_SENT, code=error.code, words=error.zh_desc, error=error)
                outcome.response = {"code": error.code, "message": error.user_message}
                return outcome
        else:
            method, params = writeback_call(slip, kind)
        outcome = WriteOutcome(NOT_SENT, request={"method": method, **redact(params)})
        try:
            client = client or self._jos()
            payload = client.call(method, params)
            # updateWarehouseStatus answers in returnType; the asc methods (收货登记) in result.
            check_write_result(payload, "result" if method == ASC_RECEIVE_REGISTER else "returnType")
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

    def _service_order_call(self, client, slip, kind: str) -> tuple[str, dict]:
        """退货入仓 on a service order, to the object the shop's setting names (docs/returns.md): the
        service order's 收货登记, or the warehouse status of the application behind it."""
        if kind != GOODS_IN_WAREHOUSE:
            raise JosError("服务单是确认收货后的售后，无法回传取消发货成功", code="NOT_APPLICABLE")
        who = self._asc_params()
        if self.shop.service_order_return_signal == "warehouse_status":
            item = self._service_order_row(client, slip.refund_no)
            if item is None:
                raise JosError("京东查无此服务单，无法找到其申请单号，未回传", code="NOT_FOUND")
            try:
                apply_no = service_orders.apply_id(item)
            except mapping.BadRow as problem:
                raise JosError(
                    f"服务单的申请单号无法识别（{problem.reason}），未回传", code="NOT_FOUND"
                ) from None
            return WAREHOUSE_STATUS, {
                "orderId": _number(slip.tid),
                "refId": _number(apply_no),
                "status": _number(warehouse_status_for(kind)),
            }
        return ASC_RECEIVE_REGISTER, {
            **who,
            "serviceId": _number(slip.platform_id or slip.refund_no),
            "orderId": _number(slip.tid),
            "receivePin": ASC_OPERATOR[0],
            "receiveName": ASC_OPERATOR[1],
            **RECEIPT_STATES,
            "receiveRemark": "退货入库审核通过",
            "wareNum": max(1, min(slip.inbound_num or slip.num, slip.num)),
        }

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


def service_order_page(items: list) -> Page:
    page = Page(rows=[])
    for item in items:
        notes: list[str] = []
        try:
            fields = service_orders.service_order_fields(item, notes)
        except mapping.BadRow as problem:
            page.set_aside.append(_set_aside_service_order(item, problem.reason))
            continue
        if notes:
            page.set_aside.append(_set_aside_service_order(item, "；".join(notes), cut=True))
        page.rows.append(fields)
    return page


def _set_aside_service_order(item, reason: str, *, cut: bool = False) -> SetAside:
    return SetAside(service_orders.platform_id(item), reason, safe_raw(item, SECRET_PARAMS), cut=cut)


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
