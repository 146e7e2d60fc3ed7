"""One ingest home: how after-sales and orders from outside are stored, whoever brings them.

The platform sync (pages from a platform's port, normalised by its package) and the REST API's bulk
push (items a shop's own systems send) both store through `ingest_refunds` and `ingest_orders`:
the same newer-wins rule (`is_stale`), the same links to orders and lines, the same interception
candidates, the same merge. What differs between them is told by a `Telling`: which events each
caller writes (the sync: only state moves, to keep a busy day's pages cheap; the API: every change,
with the key's name). Writeback state is ours: nothing here touches it.

Both functions run inside the caller's transaction (a page, a request) and lock rows in id order, as
every verb does. A few queries per call, whatever its size: one INSERT … ON CONFLICT DO NOTHING
RETURNING for the new slips, one locked read of the others, one UPDATE … FROM VALUES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from core.audit import build_event, state_label, write_events
from core.bulk import insert_rows, update_rows
from orders.locks import lock_orders
from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, Shop
from refunds.locks import lock_raw_refunds
from refunds.models import (
    MANUAL_INTERCEPTION_ATTENTION,
    PlatformObject,
    PlatformStatus,
    RawRefund,
    RefundType,
)
from refunds.services import raw_refund_intercept

CREATED, UPDATED, UNCHANGED, STALE = "created", "updated", "unchanged", "stale"
PROMOTION_FIELDS = ["promotion_no", "kind", "name", "threshold", "discount", "oids"]


class Telling:
    """The events a caller's changes leave (core.audit events; None: no event). The defaults tell
    nothing."""

    # Whether created rows get an event at all (building the row object for it costs per row).
    tells_created = False

    def created(self, obj):
        return None

    def changed(self, obj, changes: dict):
        return None

    def lines_changed(self, order, reason: str):
        return None


# --- the rules both callers follow ------------------------------------------------------------------
def is_stale(local_modified, incoming_modified) -> bool:
    """An overlap window (or a pusher resending) can bring an older copy of a row we already have
    newer: ignore it."""
    return bool(local_modified and incoming_modified and incoming_modified < local_modified)


def may_intercept(fields: dict, order_line_id) -> bool:
    """A refund-only slip asking for its refund, on a known order line: it may stop the line."""
    return (
        order_line_id is not None
        and fields["refund_type"] == RefundType.REFUND
        and fields["platform_status"] == PlatformStatus.APPLIED
    )


def merged_order_status(local: int | None, incoming: int) -> int:
    """Never move an order backwards: the ERP is ahead of the platform (JD still shows 等待出库
    while our warehouse has it). A platform cancellation counts only while the order has not left
    review (≤ 35); later, cancelling is the interception's job, not the sync's."""
    if local is None:
        return incoming
    if incoming == OrderStatus.CANCELLED:
        return OrderStatus.CANCELLED if local <= OrderStatus.AWAITING_FINANCE_REVIEW else local
    if local == OrderStatus.CANCELLED:
        return local
    return max(local, incoming)


def attention_for(fields: dict) -> dict:
    """A refund of several order lines says so on the slip (需关注): nothing intercepts it by itself."""
    return {"attention": MANUAL_INTERCEPTION_ATTENTION} if fields.get("needs_manual_interception") else {}


def merge(obj, fields: dict, *, telling: Telling, events: list, update_fields: set) -> bool:
    """Copy the incoming values onto a row we already have, with the caller's event for the change.
    Returns whether anything changed (the caller then writes the row)."""
    changes = {k: v for k, v in fields.items() if getattr(obj, k) != v}
    if not changes:
        return False
    event = telling.changed(obj, changes)  # before the change: it reads the state it leaves
    if event is not None:
        events.append(event)
    for key, value in changes.items():
        setattr(obj, key, value)
    obj.updated_at = timezone.now()
    update_fields.update(changes)
    return True


# --- after-sales ------------------------------------------------------------------------------------
@dataclass
class Stored:
    outcome: str  # CREATED, UPDATED, UNCHANGED, STALE
    slip_id: int | None  # None: the slip went away between the INSERT and the lock
    slip: RawRefund | None = None  # a slip we had, as stored now (None for a created one)
    local_modified: datetime | None = None  # a stale row: the newer version we keep


@dataclass
class RefundsIngested:
    rows: dict[str, Stored] = field(default_factory=dict)  # by refund_no, in the order given
    # Decided for the whole call in memory, so a call with none costs no interception query. Ids,
    # not refund numbers: the interception reads its slips by primary key alone (refunds.services).
    to_intercept: list[int] = field(default_factory=list)
    # refund_no → the other object the shop's slip of that number came from: not stored (below).
    collided: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(stored.outcome == outcome for stored in self.rows.values())


def ingest_refunds(shop: Shop, rows: list[dict], *, telling: Telling) -> RefundsIngested:
    """Store after-sales rows (RawRefund fields, `refund_no` in each; the last of a refund number
    wins). Inside the caller's transaction."""
    incoming = {row["refund_no"]: dict(row) for row in rows}
    done = RefundsIngested()
    if not incoming:
        return done
    order_ids, line_ids = order_and_line_ids(
        shop, {f["tid"] for f in incoming.values()}, {f["oid"] for f in incoming.values() if f.get("oid")}
    )
    links = {
        refund_no: {"order_id": order_ids.get(f["tid"]), "order_line_id": line_ids.get(f.get("oid", ""))}
        for refund_no, f in incoming.items()
    }
    # New slips first, in one INSERT that leaves the slips we already have alone: the unique
    # (shop, refund_no) index alone decides which are new. A page of new slips (the bulk of a busy
    # day) then needs no lookup of existing slips at all; a lookup by refund_no on a table whose
    # statistics are behind (a fresh table, a new shop's first download) was planned as a scan of the
    # shop's slips and grew with every page.
    # A row that does not name its platform object (an API push) is taken as the platform's own
    # after-sales id: its refund number, as the migration named the slips already stored.
    new_rows = {
        no: {"shop_id": shop.pk, "platform_id": no, **f, **links[no], **attention_for(f)}
        for no, f in incoming.items()
    }
    created = dict(
        insert_rows(
            RawRefund,
            list(new_rows.values()),
            skip_conflicts_on=("shop", "refund_no"),
            returning=("refund_no", "id"),
        )
    )
    known = [no for no in incoming if no not in created]
    # Rows are locked in id order everywhere (writeback, sync, push): no crosswise waits, no deadlocks.
    existing = (
        {r.refund_no: r for r in lock_raw_refunds(RawRefund.objects.filter(shop=shop, refund_no__in=known))}
        if known
        else {}
    )
    to_update, update_fields, events = [], set(), []
    for refund_no, fields in incoming.items():
        slip, found = existing.get(refund_no), links[refund_no]
        if slip is not None and fields.get("platform_object", slip.platform_object) != slip.platform_object:
            # One shop's 平台退款单号 is unique, and a platform's two kinds of after-sales (JD's refund
            # applications and service orders) were never shown to share one number space: should
            # they meet, the row is not merged into the other object's slip (docs/returns.md).
            done.collided[refund_no] = slip.platform_object
            continue
        pk = created.get(refund_no) or (slip.pk if slip is not None else None)
        if pk and may_intercept(fields, found["order_line_id"] or (slip and slip.order_line_id)):
            done.to_intercept.append(pk)
        if refund_no in created:
            done.rows[refund_no] = Stored(CREATED, pk)
            if telling.tells_created:
                event = telling.created(RawRefund(pk=pk, **new_rows[refund_no]))
                if event is not None:
                    events.append(event)
            continue
        if slip is None:
            done.rows[refund_no] = Stored(UNCHANGED, None)  # the next run's overlap sees it again
            continue
        if is_stale(slip.platform_modified, fields.get("platform_modified")):
            done.rows[refund_no] = Stored(STALE, pk, slip, slip.platform_modified)
            continue
        fields.update({k: v for k, v in found.items() if v is not None})
        if not slip.attention:
            fields.update(attention_for(fields))
        if merge(slip, fields, telling=telling, events=events, update_fields=update_fields):
            to_update.append(slip)
            done.rows[refund_no] = Stored(UPDATED, pk, slip)
        else:
            done.rows[refund_no] = Stored(UNCHANGED, pk, slip)
    update_rows(RawRefund, to_update, sorted({*update_fields, "updated_at"}))
    write_events(events)
    return done


def order_and_line_ids(shop, tids, oids) -> tuple[dict, dict]:
    """The ids of the known orders (by tid) and lines (by oid), in one round trip.

    Written as SQL: compiling the ORM's UNION of two filtered querysets cost more than running it
    (~1 ms of every downloaded page, against ~0.2 ms for the query)."""
    found = {"o": {}, "l": {}}
    if not tids:
        return found["o"], found["l"]
    quote = connection.ops.quote_name

    def part(kind, model, column, values):
        marks = ", ".join(["%s"] * len(values))
        return (
            f"SELECT '{kind}', {quote(column)}, {quote('id')} FROM {quote(model._meta.db_table)} "
            f"WHERE {quote('shop_id')} = %s AND {quote(column)} IN ({marks})",
            [shop.pk, *values],
        )

    sql, params = part("o", Order, "tid", list(tids))
    if oids:
        line_sql, line_params = part("l", OrderLine, "oid", list(oids))
        sql, params = f"{sql} UNION ALL {line_sql}", params + line_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, key, pk in cursor.fetchall():
            found[kind][key] = pk
    return found["o"], found["l"]


# --- orders -----------------------------------------------------------------------------------------
@dataclass
class OrderStored:
    outcome: str  # CREATED, UPDATED, UNCHANGED, STALE: of the order's own fields
    order: Order
    lines_changed: bool = False  # a line was added or changed
    promotions_changed: bool = False
    local_modified: datetime | None = None  # a stale row: the newer version we keep

    @property
    def slip_id(self) -> int | None:  # the stored row's id, named as for after-sales
        return self.order.pk


@dataclass
class OrdersIngested:
    rows: dict[str, OrderStored] = field(default_factory=dict)  # by tid, in the order given

    def count(self, outcome: str) -> int:
        return sum(stored.outcome == outcome for stored in self.rows.values())


def ingest_orders(shop: Shop, rows: list[dict], *, telling: Telling, by) -> OrdersIngested:
    """Store orders: each row {"order": Order fields with `tid`, "lines": [OrderLine fields],
    "promotions": [OrderPromotion fields] or None to keep the stored ones}. An order is stored with
    all its lines; an older copy of an order (stale) changes nothing, its lines included. Refund
    slips that arrived before their order are linked (and may intercept) once it is here. Inside
    the caller's transaction; the lines' oids are checked to belong to their order by the caller."""
    incoming = {row["order"]["tid"]: row for row in rows}
    done = OrdersIngested()
    if not incoming:
        return done
    existing = {o.tid: o for o in lock_orders(Order.objects.filter(shop=shop, tid__in=list(incoming)))}
    oids = [line["oid"] for row in incoming.values() for line in row["lines"]]
    known_lines = (
        {line.oid: line for line in OrderLine.objects.filter(shop=shop, oid__in=oids)} if oids else {}
    )
    to_create, to_update, update_fields, events = [], [], set(), []
    for tid, row in incoming.items():
        fields = dict(row["order"])
        order = existing.get(tid)
        if order is None:
            order = Order(shop=shop, **fields)
            to_create.append(order)
            done.rows[tid] = OrderStored(CREATED, order)
            continue
        if is_stale(order.platform_modified, fields.get("platform_modified")):
            done.rows[tid] = OrderStored(STALE, order, local_modified=order.platform_modified)
            continue
        fields["status"] = merged_order_status(order.status, fields["status"])
        changed = merge(order, fields, telling=telling, events=events, update_fields=update_fields)
        if changed:
            to_update.append(order)
        done.rows[tid] = OrderStored(UPDATED if changed else UNCHANGED, order)
    Order.objects.bulk_create(to_create)
    missing = [o for o in to_create if o.pk is None]  # bulk_create sets pks on PostgreSQL and SQLite
    if missing:
        ids = dict(Order.objects.filter(shop=shop, tid__in=[o.tid for o in missing]).values_list("tid", "id"))
        for order in missing:
            order.pk = ids[order.tid]
    if telling.tells_created:
        events += [e for e in (telling.created(o) for o in to_create) if e is not None]
    update_rows(Order, to_update, sorted({*update_fields, "updated_at"}))
    new_lines, changed_lines, line_fields = [], [], set()
    for tid, stored in done.rows.items():
        if stored.outcome == STALE:
            continue
        for fields in incoming[tid]["lines"]:
            line = known_lines.get(fields["oid"])
            if line is None:
                new_lines.append(OrderLine(order=stored.order, shop=shop, **fields))
                if stored.outcome != CREATED and not stored.lines_changed:
                    _tell_lines(telling, events, stored, "新增子订单")
                continue
            changes = {k: v for k, v in fields.items() if getattr(line, k) != v}
            if changes:
                for key, value in changes.items():
                    setattr(line, key, value)
                changed_lines.append(line)
                line_fields.update(changes)
                if not stored.lines_changed:
                    _tell_lines(telling, events, stored, f"子订单 {line.oid} 更新")
    OrderLine.objects.bulk_create(new_lines)
    if changed_lines:
        OrderLine.objects.bulk_update(changed_lines, sorted(line_fields))
    _replace_promotions(incoming, done, telling, events)
    write_events(events)
    link_refunds(shop, to_create, new_lines, by=by)
    return done


def _tell_lines(telling, events, stored: OrderStored, reason: str) -> None:
    stored.lines_changed = True
    if stored.outcome == UNCHANGED:  # a changed order's event already says it changed
        event = telling.lines_changed(stored.order, reason)
        if event is not None:
            events.append(event)


def _replace_promotions(incoming: dict, done: OrdersIngested, telling, events) -> None:
    """An order's order-level promotions (满减…) become exactly the row's; rows without them
    (None) keep theirs. Three queries at most per call."""
    given = {
        tid: stored
        for tid, stored in done.rows.items()
        if stored.outcome != STALE and incoming[tid].get("promotions") is not None
    }
    if not given:
        return
    stored_now: dict[int, list] = {}
    for promotion in OrderPromotion.objects.filter(
        order_id__in=[s.order.pk for s in given.values()]
    ).order_by("pk"):
        stored_now.setdefault(promotion.order_id, []).append(
            tuple(getattr(promotion, n) for n in PROMOTION_FIELDS)
        )
    replace, new = [], []
    for tid, stored in given.items():
        wanted = [{name: p[name] for name in PROMOTION_FIELDS} for p in incoming[tid]["promotions"]]
        if [tuple(p.values()) for p in wanted] == stored_now.get(stored.order.pk, []):
            continue
        replace.append(stored.order.pk)
        new += [OrderPromotion(order=stored.order, **p) for p in wanted]
        stored.promotions_changed = True
        if stored.outcome == UNCHANGED and not stored.lines_changed:
            event = telling.lines_changed(stored.order, "订单优惠更新")
            if event is not None:
                events.append(event)
    if replace:
        OrderPromotion.objects.filter(order_id__in=replace).delete()
        OrderPromotion.objects.bulk_create(new)


def link_refunds(shop, new_orders, new_lines, *, by) -> None:
    """Refund slips can arrive before their order: attach them once the order is here, and let the
    refund-only ones stop their line from shipping (拦截发货; refunds.services)."""
    if not new_orders and not new_lines:
        return
    order_ids = {o.tid: o.pk for o in new_orders}
    line_ids = {line.oid: line.pk for line in new_lines}
    waiting = RawRefund.objects.filter(shop=shop).filter(
        Q(order__isnull=True, tid__in=order_ids) | Q(order_line__isnull=True, oid__in=line_ids)
    )
    linked = []
    for slip in waiting:
        slip.order_id = slip.order_id or order_ids.get(slip.tid)
        slip.order_line_id = slip.order_line_id or line_ids.get(slip.oid)
        linked.append(slip)
    update_rows(RawRefund, linked, ["order", "order_line"])
    raw_refund_intercept([slip.pk for slip in linked], by=by)


# --- how each caller tells its changes ----------------------------------------------------------------
class SyncTelling(Telling):
    """The platform sync: an event when a state moves (the platform's words as the reason); new rows
    get none (their 下载时间 and the run, 同步记录, say when and how they arrived; a per-row event
    would double the write cost of every downloaded page)."""

    def __init__(self, shop: Shop, actor: str, state_words):
        self.actor, self.state_words, self.platform = actor, state_words, shop.get_platform_display()

    def changed(self, obj, changes: dict):
        status_field = "platform_status" if isinstance(obj, RawRefund) else "status"
        if status_field not in changes:
            return None
        if isinstance(obj, RawRefund):
            words = self.state_words(changes.get("platform_status_code", obj.platform_status_code))
            what = "服务单" if obj.platform_object == PlatformObject.SERVICE_ORDER else "退款"
            reason = f"{self.platform}{what}状态：{words}"
        else:
            reason = f"{self.platform}订单状态：{changes.get('platform_status', obj.platform_status)}"
        return build_event(
            obj,
            action="平台同步",
            by=self.actor,
            field=status_field,
            from_state=state_label(obj, status_field, getattr(obj, status_field)),
            to_state=state_label(obj, status_field, changes[status_field]),
            reason=reason,
        )


class PushTelling(Telling):
    """The REST API's push: every row created or changed leaves an event, the key's name as the actor
    (the webhook outbox reads them)."""

    tells_created = True

    def __init__(self, by: str):
        self.by = by

    def created(self, obj):
        what = "原始退款单" if isinstance(obj, RawRefund) else "系统订单"
        return build_event(obj, action="接口推送新建", by=self.by, reason=f"通过接口新建{what}")

    def changed(self, obj, changes: dict):
        status_field = "platform_status" if isinstance(obj, RawRefund) else "status"
        reason = "更新字段：" + "、".join(sorted(changes))
        if status_field in changes:
            return build_event(
                obj,
                action="接口推送更新",
                by=self.by,
                field=status_field,
                from_state=state_label(obj, status_field, getattr(obj, status_field)),
                to_state=state_label(obj, status_field, changes[status_field]),
                reason=reason,
            )
        return build_event(obj, action="接口推送更新", by=self.by, reason=reason)

    def lines_changed(self, order, reason: str):
        return build_event(order, action="接口推送更新", by=self.by, reason=reason)
