"""JD's after-sales service orders (服务单, the `jingdong.asc.*` family) in the sandbox.

On JD a refund asked before the buyer confirmed receipt is a refund application (refundapply, 取消订单);
everything after receipt — 退货, 换货, 维修, 补发 — is a service order. This module holds them per shop,
answers JD's three service-order methods, plays the buyer (an approved return is shipped back with a
waybill) and the merchant's SA policy (a 退货 whose goods were registered as received is completed and
refunded after the policy's delay; 换货 and 维修 never are: the merchant ships new or repaired goods).

Shapes are JD's as public SDKs and open-source integrations show them (docs/sandbox.md, "Service
orders"): ids and counts are JSON numbers, times in rows are epoch milliseconds (the SDKs type them
`Date`), time filters in requests are `yyyy-MM-dd HH:mm:ss` strings.

Pure Python, no Django, and no import of `sandbox.jos` (which imports this module): a refused call is
answered here, in the method's own envelope.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from platforms.jd import codes as jd_codes
from platforms.jd.asc_codes import (
    APPROVE_RESULT,
    APPROVE_RESULT_FOR,
    AWAITING_GOODS,
    AWAITING_PROCESSING,
    AWAITING_REVIEW,
    CLOSED,
    CUSTOMER_EXPECT,
    DONE,
    GOODS_COME_BACK,
    PROCESS_RESULT,
    PROCESS_RETURN_REFUNDED,
    RECEIVABLE,
    REFUND_ONLY,
    RETURN,
    SERVICE_STATUS,
    UNREVIEWED,
)
from platforms.jd.signing import SHANGHAI, jd_timestamp, parse_jd_timestamp

from . import records
from .records import InputError

# JD's service-order codes are the back office's table (platforms/jd/asc_codes.py): the sandbox plays
# the JD the back office reads.
PICKWARE_BUYER_SHIPS = 40  # pickwareType 40 客户发货
DEFAULT_RETURN_CARRIER = records.DEFAULT_RETURN_CARRIER
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 10, 50
# jingdong.asc.query.list's time filters, as JD names them, and the row time each one reads.
WINDOWS = {
    "updateTime": "updateTime",
    "approveTime": "approveTime",
    "finishTime": "finishTime",
    "applyTime": "applyTime",
}

# What a row of jingdong.asc.query.list carries (ServiceBrief in JD's Java SDK), in JD's names.
BRIEF_FIELDS = (
    "serviceId",
    "applyId",
    "orderId",
    "skuId",
    "wareName",
    "serviceCount",
    "customerExpect",
    "customerExpectName",
    "serviceStatus",
    "serviceStatusName",
    "applyTime",
    "updateTime",
    "updateDate",
    "customerPin",
    "customerName",
    "customerTel",
    "pickwareType",
    "questionTypeCid1",
    "questionTypeCid1Name",
    "questionTypeCid2",
    "questionTypeCid2Name",
    "actualPayPrice",
    "approveTime",
    "approveResult",
    "approveResultName",
    "processTime",
    "processResult",
    "processResultName",
    "expressCode",
    "freightUpdateDate",
)
# What a seed may say (JD's names; expressCompany is the carrier the buyer named, which JD keeps with
# the freight, not on the list's row).
SEED_FIELDS = frozenset(
    {
        *BRIEF_FIELDS,
        "questionDesc",
        "expressCompany",
        "finishTime",
    }
) - {
    "customerExpectName",
    "serviceStatusName",
    "approveResultName",
    "processResultName",
    "updateDate",
    "pickwareType",
}


class Refusal(Exception):
    """JD refuses the call's business parameters: answered as the method's `success: false`."""

    def __init__(self, zh: str, code: str = "PARAM_ERROR"):
        super().__init__(zh)
        self.zh, self.en, self.code = zh, zh, code


def default_return_waybill(service_id: int) -> str:
    """The waybill of a parcel the buyer ships without saying which: stable per service order."""
    return f"JDVA{service_id:014d}"


# --- seeds ------------------------------------------------------------------------------------------
def _ms(value, field: str, *, nullable: bool = True) -> int | None:
    """A time as JD's rows carry it (epoch ms), from the control API's `yyyy-MM-dd HH:mm:ss` or ms."""
    if value is None or value == "":
        if nullable:
            return None
        raise InputError(field, "is required")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    stamp = records.as_timestamp(value, field)
    return int(parse_jd_timestamp(stamp).timestamp() * 1000)


def _code(raw, name: str, field: str, table: dict, default: int) -> int:
    value = records.as_int(raw.get(name, default), f"{field}.{name}")
    if value not in table:
        raise InputError(f"{field}.{name}", f"unknown JD code {value} (known: {sorted(table)})")
    return value


def normalize(raw, field: str, *, now_ms: int) -> dict:
    raw = records.need_dict(raw, field)
    unknown = set(raw) - SEED_FIELDS
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown service order field")
    for name in ("serviceId", "orderId", "skuId"):
        if raw.get(name) in (None, ""):
            raise InputError(f"{field}.{name}", "is required")
    service_id = records.as_int(raw["serviceId"], f"{field}.serviceId", low=1)
    expect = _code(raw, "customerExpect", field, CUSTOMER_EXPECT, RETURN)
    status = _code(raw, "serviceStatus", field, SERVICE_STATUS, AWAITING_REVIEW)
    apply_time = _ms(raw.get("applyTime"), f"{field}.applyTime") or now_ms
    given_update = _ms(raw.get("updateTime"), f"{field}.updateTime")
    approve_time = _ms(raw.get("approveTime"), f"{field}.approveTime")
    approve_result = raw.get("approveResult")
    if status not in UNREVIEWED and approve_time is None:
        approve_time = given_update or apply_time  # JD approved it: the row shows when
    if approve_time is not None and approve_result in (None, ""):
        approve_result = APPROVE_RESULT_FOR.get(expect)
    if approve_result not in (None, ""):
        approve_result = records.as_int(approve_result, f"{field}.approveResult")
    process_result = raw.get("processResult")
    if process_result not in (None, ""):
        process_result = records.as_int(process_result, f"{field}.processResult")
        if process_result not in PROCESS_RESULT:
            raise InputError(f"{field}.processResult", f"unknown JD code {process_result}")
    else:
        process_result = None
    update_time = given_update or max(apply_time, approve_time or 0)
    price = records.as_money(raw.get("actualPayPrice", "0.00"), f"{field}.actualPayPrice")
    customer_pin = records.as_text(raw.get("customerPin"), f"{field}.customerPin") or "jd_demo_buyer"
    return {
        "serviceId": service_id,
        "applyId": records.as_int(raw.get("applyId", service_id), f"{field}.applyId", low=1),
        "orderId": records.as_int(raw["orderId"], f"{field}.orderId", low=1),
        # JD's skuId is a Long: a numeric one is sent as a number (`_long`), any other as given.
        "skuId": records.as_text(raw["skuId"], f"{field}.skuId", required=True),
        "wareName": records.as_text(raw.get("wareName"), f"{field}.wareName") or "演示商品",
        "serviceCount": records.as_int(raw.get("serviceCount", 1), f"{field}.serviceCount", low=1),
        "customerExpect": expect,
        "serviceStatus": status,
        "applyTime": apply_time,
        "updateTime": update_time,
        "customerPin": customer_pin,
        "customerName": records.as_text(raw.get("customerName"), f"{field}.customerName") or customer_pin,
        "customerTel": records.as_text(raw.get("customerTel"), f"{field}.customerTel") or "138****0000",
        # 40 客户发货: the buyer sends the goods back by carrier (the only pickup the sandbox plays).
        "pickwareType": PICKWARE_BUYER_SHIPS if expect in GOODS_COME_BACK else None,
        "questionTypeCid1": records.as_int(raw.get("questionTypeCid1", 1), f"{field}.questionTypeCid1"),
        "questionTypeCid1Name": records.as_text(
            raw.get("questionTypeCid1Name"), f"{field}.questionTypeCid1Name"
        )
        or "商品问题",
        "questionTypeCid2": records.as_int(raw.get("questionTypeCid2", 11), f"{field}.questionTypeCid2"),
        "questionTypeCid2Name": records.as_text(
            raw.get("questionTypeCid2Name"), f"{field}.questionTypeCid2Name"
        )
        or "7天无理由退货",
        "questionDesc": records.as_text(raw.get("questionDesc"), f"{field}.questionDesc"),
        "actualPayPrice": price,
        "approveTime": approve_time,
        "approveResult": approve_result or None,
        "processTime": _ms(raw.get("processTime"), f"{field}.processTime"),
        "processResult": process_result,
        "finishTime": _ms(raw.get("finishTime"), f"{field}.finishTime"),
        "expressCode": records.as_text(raw.get("expressCode"), f"{field}.expressCode"),
        "expressCompany": records.as_text(raw.get("expressCompany"), f"{field}.expressCompany"),
        "freightUpdateDate": _ms(raw.get("freightUpdateDate"), f"{field}.freightUpdateDate"),
        "receiveDate": None,
    }


def _long(value: str):
    return int(value) if value.isascii() and value.isdigit() else value


def brief(record: dict) -> dict:
    """The record as a row of jingdong.asc.query.list: JD's fields only, absent ones left out."""
    row = {
        **record,
        "customerExpectName": CUSTOMER_EXPECT[record["customerExpect"]],
        "serviceStatusName": SERVICE_STATUS[record["serviceStatus"]],
        "updateDate": record["updateTime"],
        "skuId": _long(record["skuId"]),
        # BigDecimal in JD's SDK: a JSON number of yuan.
        "actualPayPrice": float(record["actualPayPrice"]),
    }
    if record["approveResult"] is not None:
        row["approveResultName"] = APPROVE_RESULT.get(record["approveResult"], "")
    if record["processResult"] is not None:
        row["processResultName"] = PROCESS_RESULT[record["processResult"]]
    return {k: row[k] for k in BRIEF_FIELDS if row.get(k) not in (None, "")}


def bill(record: dict) -> dict:
    """The record as jingdong.asc.query.view's `result.data` (ServiceBill in JD's Java SDK): the
    service order with its goods in `serviceBillDetailList`; times named `…Date` there."""
    refund = record["actualPayPrice"] if record["customerExpect"] in (RETURN, REFUND_ONLY) else Decimal(0)
    data = {
        "serviceId": record["serviceId"],
        "applyId": record["applyId"],
        "applyTime": record["applyTime"],
        "serviceStatus": record["serviceStatus"],
        "serviceStatusName": SERVICE_STATUS[record["serviceStatus"]],
        "questionTypeCid2": record["questionTypeCid2"],
        "questionTypeCid2Name": record["questionTypeCid2Name"],
        "questionDesc": record["questionDesc"],
        "orderId": record["orderId"],
        "updateDate": record["updateTime"],
        "customerExpect": record["customerExpect"],
        "customerExpectName": CUSTOMER_EXPECT[record["customerExpect"]],
        "approveResult": record["approveResult"],
        "approveResultName": APPROVE_RESULT.get(record["approveResult"]) if record["approveResult"] else None,
        "approveDate": record["approveTime"],
        "processResult": record["processResult"],
        "processResultName": PROCESS_RESULT.get(record["processResult"]) if record["processResult"] else None,
        "processDate": record["processTime"],
        "receiveDate": record["receiveDate"],
        "serviceCount": record["serviceCount"],
        "refundAmt": float(refund),
        "serviceBillDetailList": [
            {
                "skuId": _long(record["skuId"]),
                "wareName": record["wareName"],
                "wareNum": record["serviceCount"],
                "actualPayPrice": float(record["actualPayPrice"]),
            }
        ],
    }
    return {k: v for k, v in data.items() if v not in (None, "")}


# --- the book: every shop's service orders, under the state's lock ----------------------------------
class ServiceOrders:
    """Service orders per shop. Every method runs under `state.lock` (the caller's or its own)."""

    def __init__(self, state):
        self.state = state
        self.rows: dict[str, dict[int, dict]] = {}
        # (app_key, serviceId) -> what the ERP told JD: [{"method", "time", ...}]
        self.writebacks: dict[tuple[str, int], list[dict]] = {}
        # (app_key, serviceId) -> epoch when JD completes it (SA policy) / the buyer ships it back
        self.finish_due: dict[tuple[str, int], float] = {}
        self.ship_due: dict[tuple[str, int], float] = {}

    # --- time ---
    def _now_ms(self, epoch: float | None = None) -> int:
        return int((self.state.clock() if epoch is None else epoch) * 1000)

    @staticmethod
    def ts(ms: int | None) -> str | None:
        return jd_timestamp(datetime.fromtimestamp(ms / 1000, tz=SHANGHAI)) if ms is not None else None

    # --- seeding and control ---
    def upsert(self, app_key, service_orders) -> int:
        if not isinstance(service_orders, list):
            raise InputError("service_orders", "must be a list of service orders")
        with self.state.lock:
            shop = self.state._shop_or_error(app_key)
            now_ms = self._now_ms()
            clean = [
                normalize(r, f"service_orders[{i}]", now_ms=now_ms) for i, r in enumerate(service_orders)
            ]
            rows = self.rows.setdefault(shop["app_key"], {})
            for record in clean:
                key = (shop["app_key"], record["serviceId"])
                rows[record["serviceId"]] = record
                self.writebacks.pop(key, None)
                self.finish_due.pop(key, None)
                self._schedule_ship(shop["app_key"], record)
            return len(clean)

    def forget_shop(self, app_key: str) -> None:
        with self.state.lock:
            self.rows[app_key] = {}
            for table in (self.writebacks, self.finish_due, self.ship_due):
                for key in [k for k in table if k[0] == app_key]:
                    del table[key]

    def count(self, app_key: str) -> int:
        return len(self.rows.get(app_key, {}))

    def _find(self, service_id, app_key: str | None) -> tuple[str, dict]:
        from .state import NotFound

        try:
            key = int(str(service_id))
        except ValueError:
            raise NotFound(f"service order {service_id} not found") from None
        hits = [(k, rows[key]) for k, rows in self.rows.items() if key in rows and app_key in (None, k)]
        if not hits:
            raise NotFound(f"service order {service_id} not found")
        if len(hits) > 1:
            raise InputError("app_key", f"service order {service_id} exists in several shops: pass ?app_key=")
        return hits[0]

    def view(self, app_key: str, record: dict) -> dict:
        due = self.finish_due.get((app_key, record["serviceId"]))
        return {
            "app_key": app_key,
            **brief(record),
            "expressCompany": record["expressCompany"],
            "questionDesc": record["questionDesc"],
            "writebacks": list(self.writebacks.get((app_key, record["serviceId"]), [])),
            "policyFinishAt": self.ts(int(due * 1000)) if due is not None else None,
        }

    def get_view(self, service_id, app_key: str | None = None) -> dict:
        with self.state.lock:
            return self.view(*self._find(service_id, app_key))

    def list_view(self, app_key: str | None = None) -> list[dict]:
        with self.state.lock:
            return [
                self.view(k, r)
                for k, rows in self.rows.items()
                if app_key in (None, k)
                for r in sorted(rows.values(), key=lambda r: r["serviceId"])
            ]

    def update(self, service_id, changes, app_key: str | None = None) -> dict:
        """Changes fields as JD would (approve: serviceStatus 10005; the buyer cancels: 10011);
        updateTime becomes now unless given, so a sync scanning a moving updateTime window sees it."""
        changes = records.need_dict(changes, "body")
        with self.state.lock:
            key, record = self._find(service_id, app_key)
            merged = {k: v for k, v in record.items() if k in SEED_FIELDS}
            if "serviceStatus" in changes and "approveResult" not in changes:
                merged["approveResult"] = None  # a new approval gets its default result
            merged.update(changes)
            merged["serviceId"] = record["serviceId"]
            now_ms = self._now_ms()
            if "updateTime" not in changes:
                merged["updateTime"] = now_ms
            clean = normalize(merged, "body", now_ms=now_ms)
            clean["receiveDate"] = record["receiveDate"]
            if (
                clean["serviceStatus"] in CLOSED
                and "finishTime" not in changes
                and clean["finishTime"] is None
            ):
                clean["finishTime"] = clean["updateTime"]
            self.rows[key][record["serviceId"]] = clean
            self._schedule_ship(key, clean)
            if clean["serviceStatus"] in CLOSED:
                self.finish_due.pop((key, clean["serviceId"]), None)
            return self.view(key, clean)

    # --- the buyer ships the goods back ---
    @staticmethod
    def awaits_buyer(record: dict) -> bool:
        return (
            record["customerExpect"] in GOODS_COME_BACK
            and record["serviceStatus"] == AWAITING_GOODS
            and not record["expressCode"]
        )

    def _schedule_ship(self, app_key: str, record: dict) -> None:
        key = (app_key, record["serviceId"])
        self.ship_due.pop(key, None)
        after = self.state.shops[app_key]["policy"].get("buyer_ships_after_seconds")
        if after is not None and self.awaits_buyer(record):
            self.ship_due[key] = self.state.clock() + after

    def reschedule_shop(self, app_key: str) -> None:
        for record in self.rows.get(app_key, {}).values():
            self._schedule_ship(app_key, record)

    def _ship(self, record: dict, company: str, waybill: str, epoch: float) -> None:
        record["expressCompany"], record["expressCode"] = company, waybill
        record["freightUpdateDate"] = record["updateTime"] = self._now_ms(epoch)

    def buyer_ship(self, service_id, body, app_key: str | None = None) -> dict:
        """The buyer ships the goods of an approved 退货/换货/维修 back: the row shows the waybill."""
        body = records.need_dict(body if body is not None else {}, "body")
        unknown = set(body) - {"company", "waybill"}
        if unknown:
            raise InputError(f"body.{sorted(unknown)[0]}", "unknown field")
        with self.state.lock:
            key, record = self._find(service_id, app_key)
            if not self.awaits_buyer(record):
                raise InputError(
                    "serviceStatus",
                    "only an approved 退货/换货/维修 waiting for the buyer's parcel (serviceStatus 10005, "
                    f"no expressCode) can be shipped; this one is customerExpect {record['customerExpect']}, "
                    f"serviceStatus {record['serviceStatus']}, expressCode {record['expressCode']!r}",
                )
            company = records.as_text(body.get("company"), "company") or DEFAULT_RETURN_CARRIER
            waybill = records.as_text(body.get("waybill"), "waybill") or default_return_waybill(
                record["serviceId"]
            )
            self.ship_due.pop((key, record["serviceId"]), None)
            self._ship(record, company, waybill, self.state.clock())
            return self.view(key, record)

    # --- what the ERP tells JD ---
    def _goods_in_warehouse_value(self) -> str:
        return next(
            v for v, kind in self.state.warehouse_kinds.items() if kind == jd_codes.GOODS_IN_WAREHOUSE
        )

    def _received(self, app_key: str, record: dict, entry: dict, now: float) -> None:
        """The goods are in the merchant's warehouse, as the ERP said: JD's SA policy completes a 退货
        after its delay (and refunds it). 换货/维修/补发 are never refunded by it: the merchant ships."""
        key = (app_key, record["serviceId"])
        self.writebacks.setdefault(key, []).append(entry)
        policy = self.state.shops[app_key]["policy"]
        acts = self._goods_in_warehouse_value() in policy["auto_refund_on"]
        if acts and record["customerExpect"] == RETURN and key not in self.finish_due:
            self.finish_due[key] = now + policy["delay_seconds"]

    def receive_register(self, app_key: str, service_id: int, order_id: int, params: dict) -> bool:
        """jingdong.asc.receive.register (收货登记): 10005 待收货 → 10007 待处理. Returns whether it
        repeated an earlier registration (answered as success: a client retrying after a lost answer
        must not see a refusal). Raises Refusal."""
        with self.state.lock:
            record = self.rows.get(app_key, {}).get(service_id)
            if record is None:
                raise Refusal("服务单不存在", "NOT_FOUND")
            if order_id != record["orderId"]:
                raise Refusal("订单号与服务单不匹配", "ORDER_MISMATCH")
            key = (app_key, service_id)
            if any(w["method"] == RECEIVE_REGISTER for w in self.writebacks.get(key, [])):
                return True
            if record["serviceStatus"] not in RECEIVABLE:
                status = record["serviceStatus"]
                raise Refusal(
                    f"服务单状态为{SERVICE_STATUS[status]}（{status}），不是待收货，无法收货登记",
                    "STATUS_ERROR",
                )
            now = self.state.clock()
            entry = {"method": RECEIVE_REGISTER, "time": self.state.now_ts(now), **params}
            record["serviceStatus"] = AWAITING_PROCESSING
            record["receiveDate"] = record["updateTime"] = self._now_ms(now)
            self._received(app_key, record, entry, now)
            return False

    def warehouse_status(self, app_key: str, order_id, ref_id, status: str) -> dict | None:
        """refundapply.updateWarehouseStatus naming the application behind a service order (its
        applyId): the other candidate for SA's 退货入仓 on a service order. None when no service
        order of this shop has that applyId (the caller answers 退款单不存在)."""
        with self.state.lock:
            record = next(
                (r for r in self.rows.get(app_key, {}).values() if r["applyId"] == ref_id),
                None,
            )
            if record is None:
                return None

            def refuse(code: str, message: str) -> dict:
                return {"success": False, "errorCode": code, "errorMsg": message, "repeat": False}

            if order_id != record["orderId"]:
                return refuse("ORDER_MISMATCH", "订单号与退款单不匹配")
            if status not in self.state.warehouse_statuses:
                return refuse("INVALID_STATUS", f"不支持的仓库状态：{status}")
            key = (app_key, record["serviceId"])
            if any(w.get("status") == status for w in self.writebacks.get(key, [])):
                return {"success": True, "repeat": True}
            if record["serviceStatus"] in CLOSED:
                return refuse("ALREADY_CLOSED", "退款单已完结，无法更新仓库状态")
            if status != self._goods_in_warehouse_value():
                return refuse("INVALID_STATUS", "服务单只接受退货入仓")
            now = self.state.clock()
            entry = {
                "method": UPDATE_WAREHOUSE_STATUS,
                "time": self.state.now_ts(now),
                "status": status,
                "meaning": self.state.warehouse_statuses[status],
            }
            record["updateTime"] = self._now_ms(now)
            self._received(app_key, record, entry, now)
            return {"success": True, "repeat": False}

    # --- time passes (under the state's lock) ---
    def promote_due(self, now: float) -> None:
        for key, due in list(self.finish_due.items()):
            if due > now:
                continue
            del self.finish_due[key]
            record = self.rows.get(key[0], {}).get(key[1])
            if record is None or record["serviceStatus"] in CLOSED:
                continue  # e.g. the buyer cancelled meanwhile
            record["serviceStatus"] = DONE
            record["processResult"] = PROCESS_RETURN_REFUNDED
            record["processTime"] = record["finishTime"] = record["updateTime"] = self._now_ms(due)
        for key, due in list(self.ship_due.items()):
            if due > now:
                continue
            del self.ship_due[key]
            record = self.rows.get(key[0], {}).get(key[1])
            if record is not None and self.awaits_buyer(record):
                self._ship(record, DEFAULT_RETURN_CARRIER, default_return_waybill(record["serviceId"]), due)

    # --- JD's queries ---
    def query(self, app_key: str, filters: dict, page: int, size: int) -> tuple[int, list]:
        window_field, (start, end) = filters.get("window") or (None, (None, None))
        with self.state.lock:
            rows = [
                r
                for r in self.rows.get(app_key, {}).values()
                if (filters.get("serviceId") is None or r["serviceId"] == filters["serviceId"])
                and (filters.get("orderId") is None or r["orderId"] == filters["orderId"])
                and (filters.get("serviceStatus") is None or r["serviceStatus"] == filters["serviceStatus"])
                and (filters.get("expressCode") is None or r["expressCode"] == filters["expressCode"])
                and (window_field is None or (r[window_field] is not None and start <= r[window_field] < end))
            ]
            order = window_field or "applyTime"
            rows.sort(key=lambda r: (r[order] or 0, r["serviceId"]))
            return len(rows), [brief(r) for r in rows[(page - 1) * size : page * size]]

    def get(self, app_key: str, service_id: int) -> dict | None:
        with self.state.lock:
            record = self.rows.get(app_key, {}).get(service_id)
            return dict(record) if record else None


# --- the JOS methods ----------------------------------------------------------------------------------
QUERY_LIST = "jingdong.asc.query.list"
QUERY_VIEW = "jingdong.asc.query.view"
RECEIVE_REGISTER = "jingdong.asc.receive.register"
UPDATE_WAREHOUSE_STATUS = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def _value(params: dict, name: str):
    value = params.get(name)
    return None if value is None or value == "" else value


def _number(params: dict, name: str, *, required: bool = False) -> int | None:
    """Ids and counts: JD's SDKs send Long/Integer (a JSON number); a numeric string is taken too."""
    value = _value(params, name)
    if value is None:
        if required:
            raise Refusal(f"缺少参数{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Refusal(f"参数{name}必须是整数")
    try:
        return int(str(value).strip())
    except ValueError:
        raise Refusal(f"参数{name}必须是整数") from None


def _moment(params: dict, name: str) -> int | None:
    value = _value(params, name)
    if value is None:
        return None
    try:
        return int(parse_jd_timestamp(str(value)).timestamp() * 1000)
    except ValueError:
        raise Refusal(f"参数{name}格式错误，应为yyyy-MM-dd HH:mm:ss") from None


def _merchant(state, app_key: str, params: dict) -> None:
    """buId (商家编号) names the merchant whose service orders are read or changed, operatePin and
    operateNick who acts: every public caller sends all three. Another merchant's buId is refused."""
    for name in ("buId", "operatePin", "operateNick"):
        if _value(params, name) is None:
            raise Refusal(f"缺少参数{name}")
    if str(params["buId"]) != state.shops[app_key]["vender_id"]:
        raise Refusal("buId与当前授权商家不一致", "NO_PERMISSION")


def query_list(state, app_key: str, p: dict) -> tuple[dict, bool]:
    page = _number(p, "pageNumber")
    size = _number(p, "pageSize")
    page = 1 if page is None else page
    size = PAGE_SIZE_DEFAULT if size is None else size
    try:
        _merchant(state, app_key, p)
        if page < 1:
            raise Refusal("pageNumber必须大于0")
        if not 1 <= size <= PAGE_SIZE_MAX:
            raise Refusal(f"pageSize必须在1到{PAGE_SIZE_MAX}之间")
        windows = []
        for name, row_field in WINDOWS.items():
            begin, end = _moment(p, f"{name}Begin"), _moment(p, f"{name}End")
            if (begin is None) != (end is None):
                raise Refusal(f"{name}Begin与{name}End须成对传入")
            if begin is not None:
                if end <= begin:
                    raise Refusal(f"{name}End必须晚于{name}Begin")
                windows.append((row_field, (begin, end)))
        if len(windows) > 1:
            raise Refusal("时间条件只能传一组")
        filters = {
            "serviceId": _number(p, "serviceId"),
            "orderId": _number(p, "orderId"),
            "serviceStatus": _number(p, "serviceStatus"),
            "expressCode": _value(p, "expressCode"),
            "window": windows[0] if windows else None,
        }
        if not windows and filters["serviceId"] is None and filters["orderId"] is None:
            raise Refusal("查询条件不能为空：请传服务单号、订单号或一组时间条件")
    except Refusal as refusal:
        return list_failure(refusal, page, size), False
    total, rows = state.service_orders.query(app_key, filters, page, size)
    return {
        "pageResult": {
            "success": True,
            "code": "0",
            "msg": "成功",
            "data": rows,
            "pageNumber": page,
            "pageSize": size,
            "totalCount": total,
        }
    }, True


def list_failure(error, page: int = 1, size: int = PAGE_SIZE_DEFAULT) -> dict:
    result = {"success": False, "code": error.code, "msg": error.zh}
    return {"pageResult": {**result, "data": [], "pageNumber": page, "pageSize": size, "totalCount": 0}}


def query_view(state, app_key: str, p: dict) -> tuple[dict, bool]:
    try:
        _merchant(state, app_key, p)
        service_id = _number(p, "serviceId", required=True)
        order_id = _number(p, "orderId")
        record = state.service_orders.get(app_key, service_id)
        if record is None or (order_id is not None and order_id != record["orderId"]):
            raise Refusal("服务单不存在", "NOT_FOUND")
    except Refusal as refusal:
        return result_failure(refusal), False
    return {"result": {"success": True, "code": "0", "msg": "成功", "data": bill(record)}}, True


def result_failure(error) -> dict:
    return {"result": {"success": False, "code": error.code, "msg": error.zh}}


REGISTER_STATES = (
    "packingState",
    "qualityState",
    "invoiceRecord",
    "judgmentReason",
    "accessoryOrGift",
    "appearanceState",
)


def receive_register(state, app_key: str, p: dict) -> tuple[dict, bool, bool]:
    try:
        _merchant(state, app_key, p)
        service_id = _number(p, "serviceId", required=True)
        order_id = _number(p, "orderId", required=True)
        logged = {name: _number(p, name) for name in (*REGISTER_STATES, "wareNum")}
        logged["receiveRemark"] = str(_value(p, "receiveRemark") or "")
        logged["receiveName"] = str(_value(p, "receiveName") or "")
        repeat = state.service_orders.receive_register(app_key, service_id, order_id, logged)
    except Refusal as refusal:
        return result_failure(refusal), False, False
    return {"result": {"success": True, "code": "0", "msg": "成功"}}, True, repeat


# name → (run, failure for a refusal sandbox.jos raises before the method runs), as sandbox.jos.METHODS
METHODS = {
    QUERY_LIST: (query_list, list_failure),
    QUERY_VIEW: (query_view, result_failure),
    RECEIVE_REGISTER: (receive_register, result_failure),
}
