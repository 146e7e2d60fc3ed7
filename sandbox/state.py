"""Everything the sandbox holds, in memory, behind one lock: shops (one per app_key), their orders and
refund applications, the writebacks received, the SA policy timers, the call log and the faults.

Reads and writes are short; nothing sleeps while holding the lock (faults sleep outside it)."""

from __future__ import annotations

import random
import secrets
import threading
import time
import zlib
from datetime import datetime

from platforms.jd import codes as jd_codes
from platforms.jd.signing import SHANGHAI, jd_timestamp
from sa_sync.demo_shops import WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE, WAREHOUSE_STATUS_SHIPMENT_CANCELLED

from . import records
from .records import CLOSED_STATUSES, REFUNDED_STATUS, InputError
from .service_orders import ServiceOrders


class NotFound(LookupError):
    pass


# The lifetime of the access tokens the sandbox issues, unless the shop says otherwise: JD's own
# answers show 86400 (one day) and 31535999 (a year less a second); one day shows refreshes happen.
DEFAULT_TOKEN_LIFETIME_SECONDS = 86400


def shop_oauth(body: dict, now: float) -> dict:
    """A shop's OAuth state, `shop["oauth"]`, from POST /_sandbox/shops (sandbox/oauth.py uses it):
    `refresh_token`, `access_token_expires_in` and `refresh_token_expires_in` (seconds from now;
    absent: never), `token_lifetime_seconds` (of the access tokens the sandbox will issue)."""
    access_in = body.get("access_token_expires_in")
    refresh_in = body.get("refresh_token_expires_in")
    lifetime = body.get("token_lifetime_seconds")
    return {
        "refresh_token": records.as_text(body.get("refresh_token"), "refresh_token") or None,
        "access_expires_at": None
        if access_in is None
        else now + records.as_int(access_in, "access_token_expires_in"),
        "refresh_expires_at": None
        if refresh_in is None
        else now + records.as_int(refresh_in, "refresh_token_expires_in"),
        "revoked": False,
        "lifetime": DEFAULT_TOKEN_LIFETIME_SECONDS
        if lifetime is None
        else records.as_int(lifetime, "token_lifetime_seconds", low=1),
        "uid": str(zlib.crc32(str(body.get("app_key")).encode())).zfill(10),
        "open_id": secrets.token_urlsafe(32),
    }


def _key_time(ts: str | None) -> str:
    # `yyyy-MM-dd HH:mm:ss` is fixed-width: text order is time order, and comparing text is what
    # keeps a page request over 20,000 applications cheap (no strptime per row).
    return ts or ""


def _bound(moment: datetime | None) -> str | None:
    return jd_timestamp(moment) if moment is not None else None


class SandboxState:
    def __init__(
        self,
        *,
        policy_delay: float = 10.0,
        buyer_ships_after: float | None = None,
        shipment_cancelled: str = WAREHOUSE_STATUS_SHIPMENT_CANCELLED,
        goods_in_warehouse: str = WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE,
        clock=time.time,
        rng: random.Random | None = None,
    ):
        self.policy_delay = policy_delay
        self.buyer_ships_after = buyer_ships_after
        # writeback status value -> what it means; the order is the default policy's
        self.warehouse_statuses = {shipment_cancelled: "取消发货成功", goods_in_warehouse: "退货入仓"}
        # value -> the writeback kind of JD's state table, which says in which states JD acts on it
        self.warehouse_kinds = {
            shipment_cancelled: jd_codes.SHIPMENT_CANCELLED,
            goods_in_warehouse: jd_codes.GOODS_IN_WAREHOUSE,
        }
        self.clock = clock
        self.rng = rng or random.Random()
        self.lock = threading.RLock()
        self.generation = 0
        self.reset()

    # --- time ---------------------------------------------------------------------------------

    def now_ts(self, epoch: float | None = None) -> str:
        epoch = self.clock() if epoch is None else epoch
        return jd_timestamp(datetime.fromtimestamp(epoch, tz=SHANGHAI))

    # --- lifecycle ----------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.shops: dict[str, dict] = {}
            self.orders: dict[str, dict[str, dict]] = {}
            self.refunds: dict[str, dict[int, dict]] = {}
            # (app_key, refund id) -> [{"status", "time"}] and -> epoch when the policy refunds it
            self.writebacks: dict[tuple[str, int], list[dict]] = {}
            self.refund_due: dict[tuple[str, int], float] = {}
            self.calls: list[dict] = []
            self.call_seq = 0
            self.faults: dict[str | None, dict] = {}
            self.rate_window: dict[str, tuple[int, int]] = {}
            # OAuth authorisation codes the to_login page issued: code -> {"app_key", "expires_at"}
            self.oauth_codes: dict[str, dict] = {}
            # JD's after-sales service orders (退货/换货/维修/补发): sandbox/service_orders.py
            self.service_orders = ServiceOrders(self)

    # --- shops and policy ---------------------------------------------------------------------

    def upsert_shop(self, body) -> dict:
        shop = records.normalize_shop(
            body, self.warehouse_statuses, self.policy_delay, default_ship_after=self.buyer_ships_after
        )
        # Its refresh token and the tokens' expiries (sandbox/oauth.py); never shown by the views.
        shop["oauth"] = shop_oauth(body, self.clock())
        with self.lock:
            self.shops[shop["app_key"]] = shop
            self.orders.setdefault(shop["app_key"], {})
            self.refunds.setdefault(shop["app_key"], {})
            return records.public_shop(shop)

    def shop(self, app_key: str) -> dict | None:
        with self.lock:
            return self.shops.get(app_key)

    def _shop_or_error(self, app_key, field: str = "app_key") -> dict:
        app_key = records.as_text(app_key, field, required=True)
        shop = self.shops.get(app_key)
        if shop is None:
            raise InputError(field, f"unknown shop {app_key!r} (create it with POST /_sandbox/shops)")
        return shop

    def shops_view(self) -> list[dict]:
        with self.lock:
            return [
                {
                    **records.public_shop(s),
                    "orders": len(self.orders[k]),
                    "refunds": len(self.refunds[k]),
                    "serviceOrders": self.service_orders.count(k),
                }
                for k, s in self.shops.items()
            ]

    def set_policy(self, body) -> dict:
        body = records.need_dict(body, "body")
        with self.lock:
            shop = self._shop_or_error(body.get("app_key"))
            shop["policy"] = records.normalize_policy(
                body,
                self.warehouse_statuses,
                self.policy_delay,
                field="body",
                default_ship_after=self.buyer_ships_after,
            )
            self.service_orders.reschedule_shop(shop["app_key"])
            return {"app_key": shop["app_key"], "policy": shop["policy"]}

    # --- orders -------------------------------------------------------------------------------

    def upsert_orders(self, app_key, orders) -> int:
        if not isinstance(orders, list):
            raise InputError("orders", "must be a list of orders")
        with self.lock:
            shop = self._shop_or_error(app_key)
            now_ts = self.now_ts()
            clean = [
                records.normalize_order(o, f"orders[{i}]", vender_id=shop["vender_id"], now_ts=now_ts)
                for i, o in enumerate(orders)
            ]
            for order in clean:
                self.orders[shop["app_key"]][order["orderId"]] = order
            return len(clean)

    def _find(self, table: dict, key, what: str, app_key: str | None) -> tuple[str, dict]:
        hits = [(k, rows[key]) for k, rows in table.items() if key in rows and app_key in (None, k)]
        if not hits:
            raise NotFound(f"{what} {key} not found")
        if len(hits) > 1:
            raise InputError("app_key", f"{what} {key} exists in several shops: pass ?app_key=")
        return hits[0]

    def order_view(self, order_id: str, app_key: str | None = None) -> dict:
        with self.lock:
            key, order = self._find(self.orders, str(order_id), "order", app_key)
            return {"app_key": key, **order}

    def orders_view(self, app_key: str | None = None) -> list[dict]:
        with self.lock:
            return [
                {"app_key": k, **o}
                for k, rows in self.orders.items()
                if app_key in (None, k)
                for o in rows.values()
            ]

    def update_order(self, order_id: str, changes, app_key: str | None = None) -> dict:
        changes = records.need_dict(changes, "body")
        with self.lock:
            key, order = self._find(self.orders, str(order_id), "order", app_key)
            merged = {**order, **changes, "orderId": order["orderId"]}
            if "orderState" in changes and "orderStateRemark" not in changes:
                merged.pop("orderStateRemark", None)
            if "modified" not in changes:
                merged["modified"] = self.now_ts()
            shop = self.shops[key]
            self.orders[key][order["orderId"]] = records.normalize_order(
                merged, "body", vender_id=shop["vender_id"], now_ts=self.now_ts()
            )
            return {"app_key": key, **self.orders[key][order["orderId"]]}

    def search_orders(self, app_key: str, start, end, states, page: int, size: int) -> tuple[int, list]:
        start, end = _bound(start), _bound(end)
        with self.lock:
            rows = [
                o
                for o in self.orders.get(app_key, {}).values()
                if (start is None or o["modified"] >= start)
                and (end is None or o["modified"] < end)
                and (not states or o["orderState"] in states)
            ]
            rows.sort(key=lambda o: (_key_time(o["modified"]), o["orderId"]))
            return len(rows), [dict(o) for o in rows[(page - 1) * size : page * size]]

    # --- refund applications ------------------------------------------------------------------

    def upsert_refunds(self, app_key, refunds) -> int:
        if not isinstance(refunds, list):
            raise InputError("refunds", "must be a list of refund applications")
        with self.lock:
            shop = self._shop_or_error(app_key)
            now_ts = self.now_ts()
            clean = [
                records.normalize_refund(r, f"refunds[{i}]", now_ts=now_ts) for i, r in enumerate(refunds)
            ]
            for refund in clean:
                key = (shop["app_key"], refund["id"])
                self.refunds[shop["app_key"]][refund["id"]] = refund
                self.writebacks.pop(key, None)
                self.refund_due.pop(key, None)
            return len(clean)

    def _refund_view(self, app_key: str, refund: dict) -> dict:
        due = self.refund_due.get((app_key, refund["id"]))
        return {
            "app_key": app_key,
            **refund,
            "warehouseWritebacks": list(self.writebacks.get((app_key, refund["id"]), [])),
            "policyRefundAt": self.now_ts(due) if due is not None else None,
        }

    def refund_view(self, refund_id, app_key: str | None = None) -> dict:
        with self.lock:
            key, refund = self._find(self.refunds, _refund_id(refund_id), "refund application", app_key)
            return self._refund_view(key, refund)

    def refunds_view(self, app_key: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self._refund_view(k, r)
                for k, rows in self.refunds.items()
                if app_key in (None, k)
                for r in sorted(rows.values(), key=lambda r: r["id"])
            ]

    def update_refund(self, refund_id, changes, app_key: str | None = None) -> dict:
        changes = records.need_dict(changes, "body")
        with self.lock:
            key, refund = self._find(self.refunds, _refund_id(refund_id), "refund application", app_key)
            merged = {**refund, **changes, "id": refund["id"]}
            now_ts = self.now_ts()
            # A change JD makes is visible to a sync scanning a moving checkTime window.
            if "modified" not in changes:
                merged["modified"] = now_ts
            if "checkTime" not in changes:
                merged["checkTime"] = now_ts
            self.refunds[key][refund["id"]] = records.normalize_refund(merged, "body", now_ts=now_ts)
            return self._refund_view(key, self.refunds[key][refund["id"]])

    def query_refunds(self, app_key: str, filters: dict, page: int, size: int) -> tuple[int, list]:
        ids, status, order_id = filters.get("ids"), filters.get("status"), filters.get("orderId")
        apply_range = tuple(_bound(b) for b in filters.get("applyTime", (None, None)))
        check_range = tuple(_bound(b) for b in filters.get("checkTime", (None, None)))
        by_check = check_range != (None, None)

        def within(ts: str | None, bounds) -> bool:
            start, end = bounds
            if start is None and end is None:
                return True
            if ts is None:
                return False
            return (start is None or ts >= start) and (end is None or ts < end)

        with self.lock:
            rows = [
                r
                for r in self.refunds.get(app_key, {}).values()
                if (ids is None or r["id"] in ids)
                and (status is None or r["status"] == status)
                and (order_id is None or r["orderId"] == order_id)
                and within(r["applyTime"], apply_range)
                and within(r["checkTime"], check_range)
            ]
            field = "checkTime" if by_check else "applyTime"
            rows.sort(key=lambda r: (_key_time(r[field]), r["id"]))
            return len(rows), [
                self._with_sku_names(app_key, r) for r in rows[(page - 1) * size : page * size]
            ]

    def _with_sku_names(self, app_key: str, refund: dict) -> dict:
        """A copy of the application whose goods carry their names as the shop's order lists them
        (JD names the goods; a seed may leave the name out)."""
        refund = dict(refund)
        if any(not sku["skuName"] for sku in refund["skuVoList"]):
            order = self.orders.get(app_key, {}).get(str(refund["orderId"])) or {}
            names = {line["skuId"]: line["skuName"] for line in order.get("itemInfoList", [])}
            refund["skuVoList"] = [
                {**sku, "skuName": sku["skuName"] or names.get(sku["skuId"], "")}
                for sku in refund["skuVoList"]
            ]
        return refund

    def get_refund(self, app_key: str, refund_id: int) -> dict | None:
        with self.lock:
            refund = self.refunds.get(app_key, {}).get(refund_id)
            return self._with_sku_names(app_key, refund) if refund else None

    # --- writeback and the SA policy ----------------------------------------------------------

    def writeback(self, app_key: str, order_id, ref_id, status: str) -> dict:
        """updateWarehouseStatus. Returns {"success", "errorCode", "errorMsg", "repeat"}."""

        def refuse(code: str, message: str) -> dict:
            return {"success": False, "errorCode": code, "errorMsg": message, "repeat": False}

        with self.lock:
            refund = self.refunds.get(app_key, {}).get(ref_id)
            if refund is None:
                # The application behind a service order (its applyId): the other 退货入仓 candidate.
                outcome = self.service_orders.warehouse_status(app_key, order_id, ref_id, status)
                return outcome or refuse("NOT_FOUND", "退款单不存在")
            if order_id != refund["orderId"]:
                return refuse("ORDER_MISMATCH", "订单号与退款单不匹配")
            if status not in self.warehouse_statuses:
                return refuse("INVALID_STATUS", f"不支持的仓库状态：{status}")
            key = (app_key, ref_id)
            received = self.writebacks.setdefault(key, [])
            # Idempotent before the closed check: a client retrying after a lost answer, even once
            # the policy has refunded, must not see a refusal.
            if any(w["status"] == status for w in received):
                return {"success": True, "repeat": True}
            if refund["status"] in CLOSED_STATUSES:
                return refuse("ALREADY_CLOSED", "退款单已完结，无法更新仓库状态")
            now = self.clock()
            received.append(
                {"status": status, "meaning": self.warehouse_statuses[status], "time": self.now_ts(now)}
            )
            policy = self.shops[app_key]["policy"]
            # JD records the writeback in any open state but refunds only from a state that acts on
            # it (e.g. not after 青龙拦截失败: the parcel is on its way to the buyer).
            acts = jd_codes.allows(refund["status"], self.warehouse_kinds[status])
            if acts and status in policy["auto_refund_on"] and key not in self.refund_due:
                self.refund_due[key] = now + policy["delay_seconds"]
            return {"success": True, "repeat": False}

    def promote_due(self) -> int:
        """Applies the SA policy: applications whose delay has passed become 3 京东财务审核通过.
        checkTime/modified are the moment the delay ran out, so a moving-window sync sees them."""
        now = self.clock()
        promoted = 0
        with self.lock:
            for key, due in list(self.refund_due.items()):
                if due > now:
                    continue
                del self.refund_due[key]
                app_key, ref_id = key
                refund = self.refunds.get(app_key, {}).get(ref_id)
                if refund is None or not self._acts_on_writebacks(key, refund):
                    continue  # e.g. the buyer cancelled (11) or JD's interception failed (8) meanwhile
                refund["status"] = REFUNDED_STATUS
                refund["checkTime"] = refund["modified"] = self.now_ts(due)
                promoted += 1
            self.service_orders.promote_due(now)
        return promoted

    def _acts_on_writebacks(self, key, refund: dict) -> bool:
        policy = self.shops[key[0]]["policy"]
        return any(
            w["status"] in policy["auto_refund_on"]
            and jd_codes.allows(refund["status"], self.warehouse_kinds[w["status"]])
            for w in self.writebacks.get(key, [])
        )

    # --- call log -----------------------------------------------------------------------------

    def record_call(self, call: dict, generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                return  # the request started before a reset; it belongs to an earlier test
            self.call_seq += 1
            self.calls.append({"seq": self.call_seq, "time": self.now_ts(), **call})

    def calls_view(self, method: str | None = None, app_key: str | None = None) -> list[dict]:
        with self.lock:
            return [
                dict(c)
                for c in self.calls
                if (method is None or c["method"] == method) and (app_key is None or c["app_key"] == app_key)
            ]

    def clear_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    # --- faults -------------------------------------------------------------------------------

    def set_faults(self, body) -> dict:
        body = records.need_dict(body, "body")
        faults = records.normalize_faults(body)
        with self.lock:
            scope = body.get("app_key") or None
            if scope is not None:
                self._shop_or_error(scope)
            self.faults[scope] = faults
            return {"app_key": scope, "faults": faults}

    def clear_faults(self, app_key: str | None = None) -> None:
        with self.lock:
            if app_key:
                self.faults.pop(app_key, None)
            else:
                self.faults.clear()
                self.rate_window.clear()

    def faults_view(self) -> list[dict]:
        with self.lock:
            return [{"app_key": k, "faults": dict(v)} for k, v in self.faults.items()]

    def effective_faults(self, app_key: str) -> dict:
        """The global faults with the shop's fields on top (fail_next queues are taken separately)."""
        with self.lock:
            merged = {k: v for k, v in self.faults.get(None, {}).items() if k != "fail_next"}
            merged.update({k: v for k, v in self.faults.get(app_key, {}).items() if k != "fail_next"})
            return merged

    def take_fail_next(self, app_key: str, method: str) -> dict | None:
        """Consumes the first queued fault matching this call: the shop's queue, then the global one."""
        with self.lock:
            for scope in (app_key, None):
                queue = self.faults.get(scope, {}).get("fail_next", [])
                for index, entry in enumerate(queue):
                    if entry.get("method") in (None, method):
                        return queue.pop(index)
        return None

    def count_call(self, app_key: str) -> int:
        """How many calls this app_key has made in the current wall-clock second, this one included."""
        second = int(self.clock())
        with self.lock:
            seen_second, count = self.rate_window.get(app_key, (second, 0))
            count = count + 1 if seen_second == second else 1
            self.rate_window[app_key] = (second, count)
            return count

    # --- demo ---------------------------------------------------------------------------------

    def load_demo(self, shops: list[dict]) -> dict:
        """Replaces the demo shops' data with `demo.build_demo()` output; other shops stay."""
        loaded = {}
        for entry in shops:
            shop = self.upsert_shop(entry["shop"])
            with self.lock:
                self.orders[shop["app_key"]] = {}
                for key in [k for k in self.writebacks if k[0] == shop["app_key"]]:
                    del self.writebacks[key]
                for key in [k for k in self.refund_due if k[0] == shop["app_key"]]:
                    del self.refund_due[key]
                self.refunds[shop["app_key"]] = {}
                self.service_orders.forget_shop(shop["app_key"])
                self.upsert_orders(shop["app_key"], entry["orders"])
                self.upsert_refunds(shop["app_key"], entry["refunds"])
                self.service_orders.upsert(shop["app_key"], entry.get("service_orders", []))
            loaded[shop["app_key"]] = {
                "orders": len(entry["orders"]),
                "refunds": len(entry["refunds"]),
                "serviceOrders": len(entry.get("service_orders", [])),
            }
        return loaded


def _refund_id(value) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise NotFound(f"refund application {value} not found") from None
