"""The API's verbs: bulk upserts of orders and raw refund slips pushed by a shop's own systems.

One transaction per request (all or nothing; validation happened before, in the serializers, and
the cross-row checks below run before anything is written). The rows are stored through the ingest
home the platform sync uses (sa_sync.ingest): locked in id order, the same newer-wins rule: the same
payload twice changes nothing, a newer `modified` updates, an older one is ignored and said so per
item. Writeback state is ours and never written from outside. Every row created or changed leaves an
event in the 操作日志 with the key's name as the actor (which also feeds the webhook outbox)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.audit import build_event, state_label
from orders.models import OrderLine, Shop
from refunds.models import PlatformObject, RawRefund
from refunds.services import raw_refund_intercept
from refunds.signals import raw_refunds_saved
from sa_sync.ingest import STALE, PushTelling, ingest_orders, ingest_refunds

logger = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED, IGNORED = "created", "updated", "unchanged", "ignored_older"
MESSAGES = {
    CREATED: "已新建",
    UPDATED: "已更新",
    UNCHANGED: "无变化（与已有数据相同）",
}


class PushConflict(Exception):
    """Items that are valid alone but conflict with stored data: [{"index", "field", "message"}]."""

    def __init__(self, errors: list[dict]):
        super().__init__("conflict")
        self.errors = errors


def _result(index, key, obj_id, result, message=None):
    return {
        "index": index,
        "key": key,
        "id": obj_id,
        "result": result,
        "message": message or MESSAGES[result],
    }


def _ignored_message(local, incoming) -> str:
    return (
        f"已忽略：系统中的版本更新（modified {timezone.localtime(local):%Y-%m-%d %H:%M:%S}），"
        f"本条为 {timezone.localtime(incoming):%Y-%m-%d %H:%M:%S}"
    )


def _changes(obj, fields: dict) -> dict:
    return {k: v for k, v in fields.items() if getattr(obj, k) != v}


def _update_event(obj, changes: dict, *, by, status_field: str):
    if status_field in changes:
        return build_event(
            obj,
            action="接口推送更新",
            by=by,
            field=status_field,
            from_state=state_label(obj, status_field, getattr(obj, status_field)),
            to_state=state_label(obj, status_field, changes[status_field]),
            reason="更新字段：" + "、".join(sorted(changes)),
        )
    return build_event(obj, action="接口推送更新", by=by, reason="更新字段：" + "、".join(sorted(changes)))


def duplicate_errors(items: list[dict], key: str) -> list[dict]:
    seen, errors = {}, []
    for index, item in enumerate(items):
        if item[key] in seen:
            errors.append(
                {
                    "index": index,
                    "field": key,
                    "message": f"与第 {seen[item[key]]} 条重复：同一请求中 {key} 不能重复",
                }
            )
        else:
            seen[item[key]] = index
    return errors


# --- raw refund slips ----------------------------------------------------------------------------
REFUND_FIELDS = [
    "tid",
    "oid",
    "refund_type",
    "platform_status",
    "platform_status_code",
    "platform_object",
    "reason",
    "description",
    "refund_amount",
    "num",
    "buyer_nick",
    "apply_time",
    "check_time",
]


def raw_refunds_push(shop: Shop, items: list[dict], *, by: str) -> list[dict]:
    errors = duplicate_errors(items, "refund_no")
    if errors:
        raise PushConflict(errors)
    rows = []
    for item in items:
        # A field the item leaves out (platform_status_code, optional) keeps the stored value: only
        # an explicit value changes it.
        fields = {name: item[name] for name in REFUND_FIELDS if name in item}
        fields["platform_modified"] = item["modified"]
        rows.append({"refund_no": item["refund_no"], **fields})
    with transaction.atomic():
        # Stored as the platform sync stores a page (sa_sync.ingest): one home, one set of rules.
        done = ingest_refunds(shop, rows, telling=PushTelling(by))
        if done.collided:
            # A slip is one JD object for good: a push naming the other one is refused whole (the
            # transaction rolls back), as the sync sets such a row aside instead of merging it.
            labels = dict(PlatformObject.choices)
            raise PushConflict(
                [
                    {
                        "index": index,
                        "field": "platform_object",
                        "message": f"退款单 {item['refund_no']} 已是{labels.get(done.collided[item['refund_no']], '')}，"
                        f"不能改为{labels.get(item['platform_object'], item['platform_object'])}",
                    }
                    for index, item in enumerate(items)
                    if item["refund_no"] in done.collided
                ]
            )
    results = [
        _pushed(index, item["refund_no"], item["modified"], done.rows[item["refund_no"]])
        for index, item in enumerate(items)
    ]
    if done.to_intercept:
        # After the upsert's transaction, as the sync does: interception locks orders → lines → slips.
        raw_refund_intercept(done.to_intercept, by=by)
    saved = [r["key"] for r in results if r["result"] in (CREATED, UPDATED)]
    if saved:
        # Committed: the apps above react as they do to a sync page (keyword check, 退款完成).
        transaction.on_commit(lambda: _announce_raw_refunds(shop, saved))
    return results


def _pushed(index, key, modified, stored, *, changed: bool = False) -> dict:
    """The item's result from what the ingest did with it (`changed`: its lines or promotions were)."""
    obj_id = stored.slip_id
    if stored.outcome == STALE:
        return _result(index, key, obj_id, IGNORED, _ignored_message(stored.local_modified, modified))
    if stored.outcome == CREATED:
        return _result(index, key, obj_id, CREATED)
    return _result(index, key, obj_id, UPDATED if stored.outcome == UPDATED or changed else UNCHANGED)


def _announce_raw_refunds(shop: Shop, refund_nos: list[str]) -> None:
    for _, error in raw_refunds_saved.send_robust(RawRefund, shop_id=shop.pk, refund_nos=refund_nos):
        if isinstance(error, Exception):
            logger.error("raw_refunds_saved receiver failed shop=%s: %r", shop.shop_no, error)


# --- orders ------------------------------------------------------------------------------------
ORDER_FIELDS = [
    "status",
    "pay_type",
    "platform_status",
    "buyer_nick",
    "receiver_name",
    "receiver_mobile",
    "receiver_address",
    "goods_amount",
    "discount",
    "post_amount",
    "paid",
    "trade_time",
    "pay_time",
]
LINE_FIELDS = ["oid", "goods_no", "spec_no", "goods_name", "spec_name", "num", "price", "discount", "paid"]


def _line_conflicts(shop, items) -> list[dict]:
    """A line id (oid) is unique per shop: one already on another order cannot move to this one."""
    first, errors = {}, []
    for index, item in enumerate(items):
        for position, line in enumerate(item["lines"]):
            oid = line["oid"]
            if oid in first and first[oid][2] != item["tid"]:
                errors.append(
                    {
                        "index": index,
                        "field": f"lines.{position}.oid",
                        "message": f"原始子单号 {oid} 在同一请求中属于多个订单（另见第 {first[oid][0]} 条）",
                    }
                )
            first.setdefault(oid, (index, position, item["tid"]))
    if not first:
        return errors
    for oid, tid in OrderLine.objects.filter(shop=shop, oid__in=list(first)).values_list("oid", "order__tid"):
        index, position, wanted = first[oid]
        if tid != wanted:
            errors.append(
                {
                    "index": index,
                    "field": f"lines.{position}.oid",
                    "message": f"原始子单号 {oid} 已属于订单 {tid}，不能归入订单 {wanted}",
                }
            )
    return errors


def orders_push(shop: Shop, items: list[dict], *, by: str) -> list[dict]:
    errors = duplicate_errors(items, "tid") or _line_conflicts(shop, items)
    if errors:
        raise PushConflict(errors)
    rows = []
    for item in items:
        fields = {"tid": item["tid"], **{name: item[name] for name in ORDER_FIELDS}}
        fields["platform_modified"] = item["modified"]
        rows.append(
            {
                "order": fields,
                "lines": [{name: line[name] for name in LINE_FIELDS} for line in item["lines"]],
                # Without `promotions` the order keeps the ones it has.
                "promotions": item.get("promotions"),
            }
        )
    with transaction.atomic():
        # Stored as the platform sync stores a page (sa_sync.ingest): one home, one set of rules.
        done = ingest_orders(shop, rows, telling=PushTelling(by), by=by)
    results = []
    for index, item in enumerate(items):
        stored = done.rows[item["tid"]]
        changed = stored.lines_changed or stored.promotions_changed
        results.append(_pushed(index, item["tid"], item["modified"], stored, changed=changed))
    return results


def summary(results: list[dict]) -> dict:
    counts = {CREATED: 0, UPDATED: 0, UNCHANGED: 0, IGNORED: 0}
    for row in results:
        counts[row["result"]] += 1
    return {**counts, "results": results}
