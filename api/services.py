"""The API's verbs: bulk upserts of orders and raw refund slips pushed by a shop's own systems.

One transaction per request (all or nothing; validation happened before, in the serializers, and
the cross-row checks below run before anything is written). Rows are locked in id order as the
sync locks them; JD's newer-wins rule is the sync's (`_is_stale`): the same payload twice changes
nothing, a newer `modified` updates, an older one is ignored and said so per item. Writeback state is
ours and never written from outside. Every row created or changed leaves an event in the 操作日志
with the key's name as the actor (which also feeds the webhook outbox)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.audit import build_event, state_label, write_events
from core.bulk import insert_rows, update_rows
from orders.locks import lock_orders
from orders.models import Order, OrderLine, OrderPromotion, Shop
from refunds.locks import lock_raw_refunds
from refunds.models import RawRefund
from refunds.services import raw_refund_intercept
from refunds.signals import raw_refunds_saved
from sa_sync.platform_sync import _is_stale, _may_intercept, merged_order_status

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
    incoming = {}
    for item in items:
        # A field the item leaves out (platform_status_code, optional) keeps the stored value: only
        # an explicit value changes it.
        fields = {name: item[name] for name in REFUND_FIELDS if name in item}
        fields["platform_modified"] = item["modified"]
        incoming[item["refund_no"]] = fields
    results: list = [None] * len(items)
    to_intercept = []
    with transaction.atomic():
        existing = {
            r.refund_no: r
            for r in lock_raw_refunds(RawRefund.objects.filter(shop=shop, refund_no__in=list(incoming)))
        }
        order_ids = dict(
            Order.objects.filter(shop=shop, tid__in={f["tid"] for f in incoming.values()}).values_list(
                "tid", "id"
            )
        )
        oids = {f["oid"] for f in incoming.values() if f["oid"]}
        line_ids = (
            dict(OrderLine.objects.filter(shop=shop, oid__in=oids).values_list("oid", "id")) if oids else {}
        )
        to_create, to_update, update_fields, events = [], [], set(), []
        now = timezone.now()
        for index, item in enumerate(items):
            refund_no = item["refund_no"]
            fields = incoming[refund_no]
            links = {"order_id": order_ids.get(fields["tid"]), "order_line_id": line_ids.get(fields["oid"])}
            slip = existing.get(refund_no)
            if _may_intercept(fields, links["order_line_id"] or (slip and slip.order_line_id)):
                to_intercept.append(refund_no)
            if slip is None:
                to_create.append((index, {"shop_id": shop.pk, "refund_no": refund_no, **fields, **links}))
                continue
            if _is_stale(slip.platform_modified, fields["platform_modified"]):
                results[index] = _result(
                    index,
                    refund_no,
                    slip.pk,
                    IGNORED,
                    _ignored_message(slip.platform_modified, fields["platform_modified"]),
                )
                continue
            fields.update({k: v for k, v in links.items() if v is not None})
            changes = _changes(slip, fields)
            if not changes:
                results[index] = _result(index, refund_no, slip.pk, UNCHANGED)
                continue
            events.append(_update_event(slip, changes, by=by, status_field="platform_status"))
            for name, value in changes.items():
                setattr(slip, name, value)
            slip.updated_at = now
            update_fields.update(changes)
            to_update.append(slip)
            results[index] = _result(index, refund_no, slip.pk, UPDATED)
        if to_create:
            ids = dict(insert_rows(RawRefund, [row for _, row in to_create], returning=("refund_no", "id")))
            for index, row in to_create:
                slip = RawRefund(pk=ids[row["refund_no"]], **row)
                events.append(
                    build_event(slip, action="接口推送新建", by=by, reason="通过接口新建原始退款单")
                )
                results[index] = _result(index, row["refund_no"], slip.pk, CREATED)
        if to_update:
            update_rows(RawRefund, to_update, sorted({*update_fields, "updated_at"}))
        write_events(events)
    if to_intercept:
        # After the upsert's transaction, as the sync does: interception locks orders → lines → slips.
        # By id, as the sync does (platform_sync.PageCounts says why).
        slip_ids = {r["key"]: r["id"] for r in results if r["id"] is not None}
        raw_refund_intercept([slip_ids[no] for no in to_intercept if no in slip_ids], by=by)
    saved = [r["key"] for r in results if r["result"] in (CREATED, UPDATED)]
    if saved:
        # Committed: the apps above react as they do to a sync page (keyword check, 退款完成).
        transaction.on_commit(lambda: _announce_raw_refunds(shop, saved))
    return results


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
    from sa_sync.platform_sync import _link_refunds

    errors = duplicate_errors(items, "tid") or _line_conflicts(shop, items)
    if errors:
        raise PushConflict(errors)
    results: list = [None] * len(items)
    with transaction.atomic():
        existing = {
            o.tid: o for o in lock_orders(Order.objects.filter(shop=shop, tid__in=[i["tid"] for i in items]))
        }
        oids = [line["oid"] for item in items for line in item["lines"]]
        known_lines = (
            {line.oid: line for line in OrderLine.objects.filter(shop=shop, oid__in=oids)} if oids else {}
        )
        to_create, to_update, update_fields, events, written = [], [], set(), [], []
        now = timezone.now()
        for index, item in enumerate(items):
            fields = {name: item[name] for name in ORDER_FIELDS}
            fields["platform_modified"] = item["modified"]
            order = existing.get(item["tid"])
            if order is None:
                to_create.append((index, Order(shop=shop, tid=item["tid"], **fields)))
                continue
            if _is_stale(order.platform_modified, fields["platform_modified"]):
                results[index] = _result(
                    index,
                    order.tid,
                    order.pk,
                    IGNORED,
                    _ignored_message(order.platform_modified, fields["platform_modified"]),
                )
                continue
            fields["status"] = merged_order_status(order.status, fields["status"])
            changes = _changes(order, fields)
            written.append((index, order))
            if not changes:
                results[index] = _result(index, order.tid, order.pk, UNCHANGED)
                continue
            events.append(_update_event(order, changes, by=by, status_field="status"))
            for name, value in changes.items():
                setattr(order, name, value)
            order.updated_at = now
            update_fields.update(changes)
            to_update.append(order)
            results[index] = _result(index, order.tid, order.pk, UPDATED)
        Order.objects.bulk_create([order for _, order in to_create])
        # bulk_create sets pks on PostgreSQL and SQLite; read them back elsewhere.
        missing = [o for _, o in to_create if o.pk is None]
        if missing:
            ids = dict(
                Order.objects.filter(shop=shop, tid__in=[o.tid for o in missing]).values_list("tid", "id")
            )
            for order in missing:
                order.pk = ids[order.tid]
        for index, order in to_create:
            events.append(build_event(order, action="接口推送新建", by=by, reason="通过接口新建系统订单"))
            results[index] = _result(index, order.tid, order.pk, CREATED)
            written.append((index, order))
        if to_update:
            Order.objects.bulk_update(to_update, sorted({*update_fields, "updated_at"}))
        new_lines, changed_lines, line_fields = [], [], set()
        for index, order in written:
            for line_in in items[index]["lines"]:
                fields = {name: line_in[name] for name in LINE_FIELDS}
                line = known_lines.get(fields["oid"])
                if line is None:
                    new_lines.append(OrderLine(order=order, shop=shop, **fields))
                    continue
                changes = _changes(line, fields)
                if changes:
                    for name, value in changes.items():
                        setattr(line, name, value)
                    changed_lines.append(line)
                    line_fields.update(changes)
                    if results[index]["result"] == UNCHANGED:
                        events.append(
                            build_event(order, action="接口推送更新", by=by, reason=f"子订单 {line.oid} 更新")
                        )
                        results[index] = _result(index, order.tid, order.pk, UPDATED)
            if results[index]["result"] == UNCHANGED and any(
                line_in["oid"] not in known_lines for line_in in items[index]["lines"]
            ):
                events.append(build_event(order, action="接口推送更新", by=by, reason="新增子订单"))
                results[index] = _result(index, order.tid, order.pk, UPDATED)
        OrderLine.objects.bulk_create(new_lines)
        if changed_lines:
            OrderLine.objects.bulk_update(changed_lines, sorted(line_fields))
        _replace_promotions(items, written, results, events, by=by)
        write_events(events)
        _link_refunds(shop, [order for _, order in to_create], new_lines)
    return results


PROMOTION_FIELDS = ["promotion_no", "kind", "name", "threshold", "discount", "oids"]


def _replace_promotions(items, written, results, events, *, by) -> None:
    """An order pushed with `promotions` gets exactly those order-level promotions (满减…), as the
    sync replaces them from JD's couponDetailList; without `promotions` they stay as they are."""
    given = [(index, order) for index, order in written if items[index].get("promotions") is not None]
    if not given:
        return
    stored = {}
    for promotion in OrderPromotion.objects.filter(order_id__in=[o.pk for _, o in given]).order_by("pk"):
        stored.setdefault(promotion.order_id, []).append(
            tuple(getattr(promotion, name) for name in PROMOTION_FIELDS)
        )
    replace, rows = [], []
    for index, order in given:
        wanted = [{name: p[name] for name in PROMOTION_FIELDS} for p in items[index]["promotions"]]
        if [tuple(p.values()) for p in wanted] == stored.get(order.pk, []):
            continue
        replace.append(order.pk)
        rows += [OrderPromotion(order=order, **p) for p in wanted]
        if results[index]["result"] == UNCHANGED:
            events.append(build_event(order, action="接口推送更新", by=by, reason="订单优惠更新"))
            results[index] = _result(index, order.tid, order.pk, UPDATED)
    if replace:
        OrderPromotion.objects.filter(order_id__in=replace).delete()
        OrderPromotion.objects.bulk_create(rows)


def summary(results: list[dict]) -> dict:
    counts = {CREATED: 0, UPDATED: 0, UNCHANGED: 0, IGNORED: 0}
    for row in results:
        counts[row["result"]] += 1
    return {**counts, "results": results}
