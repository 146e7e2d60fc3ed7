"""Platform sync: download a shop's orders and after-sales from its platform and upsert them.

The platform is reached through the port (platforms.platform_for): it lists what changed in a
window, page by page, as normalised rows; this module owns the run, the cursor and the writes.

A run owns its (shop, kind) through a lease on SyncCursor, walks the window since the last
completed one (with an overlap, because JD's clocks and our paging can miss a row at an edge) in
chunks, page by page; each page is one transaction, and the cursor moves only past completed chunks.
A run that fails half-way leaves every page it wrote consistent and the next run repeats the rest.
A row JD sends malformed is set aside with its reason (SyncRejectedRow) and the rest of its page saved:
one bad row never stops a shop's sync, and the cursor moves past it.
Network calls happen outside any transaction; the next page is fetched while this one is written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

import platforms
from core.audit import build_event, state_label, write_events
from core.bulk import commit_without_waiting_for_disk, insert_rows, update_rows
from orders.locks import lock_orders
from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, Shop
from orders.services import shop_mark_credentials_refused, shop_mark_credentials_working
from platforms.errors import PlatformError
from platforms.port import Page, Platform, visible
from refunds.locks import lock_raw_refunds
from refunds.models import MANUAL_INTERCEPTION_ATTENTION, PlatformStatus, RawRefund, RefundType
from refunds.services import raw_refund_intercept
from refunds.signals import SavedState, raw_refunds_saved

from .models import SyncCursor, SyncKind, SyncRejectedRow, SyncRowOutcome, SyncRun, SyncRunStatus

logger = logging.getLogger(__name__)

SYNC_ACTOR = "系统：平台同步"
LEASE = timedelta(minutes=15)


# --- the run -------------------------------------------------------------------------------------
def shop_sync(
    shop: Shop,
    *,
    kind: str,
    trigger: str = "定时任务",
    now: datetime | None = None,
    platform: Platform | None = None,
) -> SyncRun | None:
    """Download one kind for one shop. Returns the run, or None when another run holds the shop.
    `platform`: the shop's port (platforms.platform_for(shop) unless given)."""
    now = now or timezone.now()
    cursor = _claim(shop, kind, now)
    if cursor is None:
        return None
    overlap = timedelta(seconds=settings.PLATFORM_SYNC_OVERLAP_SECONDS)
    start = (
        (cursor.synced_until - overlap)
        if cursor.synced_until
        else now - timedelta(days=settings.PLATFORM_SYNC_INITIAL_DAYS)
    )
    run = SyncRun.objects.create(shop=shop, kind=kind, trigger=trigger, window_start=start, window_end=now)
    try:
        platform = platform or platforms.platform_for(shop)
        chunk = timedelta(hours=settings.PLATFORM_SYNC_CHUNK_HOURS)
        chunk_start = start
        while chunk_start < now:
            chunk_end = min(chunk_start + chunk, now)
            _sync_chunk(platform, shop, run, kind, chunk_start, chunk_end)
            SyncCursor.objects.filter(pk=cursor.pk).update(synced_until=chunk_end)
            chunk_start = chunk_end
    except PlatformError as error:
        _finish(run, cursor, error=error)
        if error.credential_problem:
            shop_mark_credentials_refused(shop.pk, message=error.user_message)
        logger.warning("platform sync failed shop=%s kind=%s code=%s", shop.shop_no, kind, error.code)
        return run
    except Exception:
        _finish(run, cursor, error=None, unexpected=True)
        raise
    _finish(run, cursor)
    if shop.credential_error:
        shop_mark_credentials_working([shop.pk])
    return run


def _claim(shop, kind, now) -> SyncCursor | None:
    with transaction.atomic():
        cursor, _ = SyncCursor.objects.get_or_create(shop=shop, kind=kind)
        cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
        # The tick's task for this shop has left the queue: the next tick may queue another.
        cursor.queued_at = None
        if cursor.running_since and cursor.running_since > now - LEASE:
            cursor.save(update_fields=["queued_at"])
            return None
        cursor.running_since = now
        cursor.save(update_fields=["running_since", "queued_at"])
        return cursor


def _finish(run, cursor, error: PlatformError | None = None, unexpected=False):
    run.finished_at = timezone.now()
    if error is not None or unexpected:
        run.status = SyncRunStatus.FAILED
        # Both come from JD (its error code, its description inside the message): cut to the
        # columns, or recording the failure would itself fail on PostgreSQL and keep the shop's lease.
        run.error_code = (error.code if error else "UNEXPECTED")[
            : SyncRun._meta.get_field("error_code").max_length
        ]
        run.error = (error.user_message if error else "同步时发生内部错误，请查看服务日志")[
            : SyncRun._meta.get_field("error").max_length
        ]
    else:
        run.status = SyncRunStatus.SUCCEEDED
    run.save()
    SyncCursor.objects.filter(pk=cursor.pk).update(running_since=None)


RUN_COUNTS = ["pages", "rows_new", "rows_updated", "rows_unchanged", "rows_rejected", "rows_cut"]
RAW_ROW_MAX_CHARS = 20_000


@dataclass
class PageCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    cut: int = 0
    # The platform ids of the page's rows that were stored (or found unchanged), not set aside.
    saved: list[str] = dataclasses.field(default_factory=list)
    # The ids of those that may stop a shipment (退款 + 申请退款 on a known order line): decided for
    # the whole page in memory, so a page with none costs no interception query. Ids, not refund
    # numbers: the interception reads its slips by primary key alone (refunds.services says why:
    # on a busy day any other condition let PostgreSQL choose a plan that grew with the table).
    to_intercept: list[int] = dataclasses.field(default_factory=list)


def _count(run, counts: PageCounts):
    run.pages += 1
    run.rows_new += counts.new
    run.rows_updated += counts.updated
    run.rows_unchanged += counts.unchanged
    run.rows_rejected += counts.rejected
    run.rows_cut += counts.cut


def _stored_raw(item) -> dict:
    """The platform's row (secrets already blanked by the platform package), cut to a size ops can
    read and the table can hold."""
    text = json.dumps(item, ensure_ascii=False, default=str)
    if len(text) > RAW_ROW_MAX_CHARS:
        return {"truncated": text[:RAW_ROW_MAX_CHARS]}
    return item if isinstance(item, dict) else {"row": item}


class _SetAside:
    """The rows of one page that were set aside or cut, written in the page's own transaction.

    A run can meet the same row twice (the refund sync reads by applyTime, then by checkTime; a
    window whose total moved is walked again): it is recorded once per run."""

    def __init__(self, run, shop, kind):
        self.run, self.shop, self.kind = run, shop, kind
        self.rows: list[SyncRejectedRow] = []
        self.seen = run.__dict__.setdefault("_set_aside_seen", set())

    def add_page(self, page: Page):
        for row in page.set_aside:
            outcome = SyncRowOutcome.CUT if row.cut else SyncRowOutcome.REJECTED
            self.add(outcome, row.platform_id, row.raw, row.reason)

    def add(self, outcome, platform_id, item, reason):
        key = (self.kind, outcome, platform_id, reason)
        if key in self.seen:
            return
        self.seen.add(key)
        self.rows.append(
            SyncRejectedRow(
                run=self.run,
                shop=self.shop,
                kind=self.kind,
                outcome=outcome,
                platform_id=platform_id,
                reason=visible(reason),
                raw=_stored_raw(item),
            )
        )

    def save(self, counts: PageCounts):
        if self.rows:
            SyncRejectedRow.objects.bulk_create(self.rows)
            for row in self.rows:
                if row.outcome == SyncRowOutcome.REJECTED:
                    counts.rejected += 1
                else:
                    counts.cut += 1
            logger.warning(
                "platform sync set aside shop=%s kind=%s rows=%d",
                self.shop.shop_no,
                self.kind,
                len(self.rows),
            )


def _sync_chunk(platform, shop, run, kind, start, end):
    for page in platform.list_changed(kind, start, end):
        if kind == SyncKind.ORDERS:
            _count(run, upsert_orders(shop, page, run=run))
            continue
        counts = upsert_refunds(shop, page, run=run)
        _count(run, counts)
        if counts.to_intercept:
            raw_refund_intercept(counts.to_intercept, by=SYNC_ACTOR)
    run.save(update_fields=RUN_COUNTS)


# --- upserts: one transaction per page, a few queries per page whatever its size -----------------
def _merge(obj, fields: dict, *, status_field: str, reason: str, events: list, update_fields: set) -> bool:
    """Copy the platform's values onto a row we already have; an event when its status moves.
    Returns whether anything changed (the caller then writes the row)."""
    changes = {k: v for k, v in fields.items() if getattr(obj, k) != v}
    if not changes:
        return False
    if status_field in changes:
        events.append(
            build_event(
                obj,
                action="平台同步",
                by=SYNC_ACTOR,
                field=status_field,
                from_state=state_label(obj, status_field, getattr(obj, status_field)),
                to_state=state_label(obj, status_field, changes[status_field]),
                reason=reason,
            )
        )
    for key, value in changes.items():
        setattr(obj, key, value)
    obj.updated_at = timezone.now()
    update_fields.update(changes)
    return True


def upsert_orders(shop: Shop, page: Page, *, run: SyncRun) -> PageCounts:
    # The platform package read and checked the rows in memory: a bad row cost no query.
    incoming, promotions = {}, {}
    set_aside = _SetAside(run, shop, SyncKind.ORDERS)
    set_aside.add_page(page)
    for row in page.rows:
        fields = dict(row["order"])
        promotions[fields["tid"]] = row["promotions"]
        incoming[fields["tid"]] = (fields, row["lines"])
    new = updated = unchanged = 0
    counts = PageCounts(saved=list(incoming))
    with transaction.atomic():
        commit_without_waiting_for_disk()  # JD's data, downloaded again if lost: core.bulk says why
        set_aside.save(counts)
        # Rows are locked in id order everywhere (writeback, sync): no crosswise waits, no deadlocks.
        existing = {o.tid: o for o in lock_orders(Order.objects.filter(shop=shop, tid__in=incoming))}
        oids = [line["oid"] for _, lines in incoming.values() for line in lines]
        known_lines = {line.oid: line for line in OrderLine.objects.filter(shop=shop, oid__in=oids)}
        to_create, to_update, update_fields, events = [], [], set(), []
        for tid, (fields, _) in incoming.items():
            order = existing.get(tid)
            if order is None:
                to_create.append(Order(shop=shop, **fields))
                continue
            if _is_stale(order.platform_modified, fields["platform_modified"]):
                unchanged += 1
                continue
            fields["status"] = merged_order_status(order.status, fields["status"])
            reason = f"京东订单状态：{fields['platform_status']}"
            if _merge(
                order,
                fields,
                status_field="status",
                reason=reason,
                events=events,
                update_fields=update_fields,
            ):
                to_update.append(order)
                updated += 1
            else:
                unchanged += 1
        Order.objects.bulk_create(to_create)
        new += len(to_create)
        if to_update:
            Order.objects.bulk_update(to_update, [*update_fields, "updated_at"])
        orders = {**existing, **{o.tid: o for o in to_create}}
        new_lines, changed_lines, line_fields = [], [], set()
        for tid, (_, lines) in incoming.items():
            for fields in lines:
                line = known_lines.get(fields["oid"])
                if line is None:
                    new_lines.append(OrderLine(order=orders[tid], shop=shop, **fields))
                    continue
                changes = {k: v for k, v in fields.items() if getattr(line, k) != v}
                for key, value in changes.items():
                    setattr(line, key, value)
                if changes:
                    changed_lines.append(line)
                    line_fields.update(changes)
        OrderLine.objects.bulk_create(new_lines)
        if changed_lines:
            OrderLine.objects.bulk_update(changed_lines, list(line_fields))
        write_events(events)
        _replace_promotions(orders, promotions)
        _link_refunds(shop, [o for o in to_create], new_lines)
    counts.new, counts.updated, counts.unchanged = new, updated, unchanged
    return counts


def _replace_promotions(orders: dict, promotions: dict):
    """The page's order-level promotions (满减…) as JD sends them now: two queries per page."""
    OrderPromotion.objects.filter(order_id__in=[o.pk for o in orders.values()]).delete()
    OrderPromotion.objects.bulk_create(
        [
            OrderPromotion(order=orders[tid], **p)
            for tid, rows in promotions.items()
            if tid in orders
            for p in rows
        ]
    )


def _link_refunds(shop, new_orders, new_lines):
    """Refund applications can arrive before their order: attach them once the order is here."""
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
    # Now on a known line, refund-only slips stop it from shipping (拦截发货; refunds.services).
    raw_refund_intercept([slip.pk for slip in linked], by=SYNC_ACTOR)


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


def _attention(fields: dict) -> dict:
    """A refund of several order lines says so on the slip (需关注): nothing intercepts it by itself."""
    return {"attention": MANUAL_INTERCEPTION_ATTENTION} if fields.get("needs_manual_interception") else {}


def _is_stale(local_modified, incoming_modified) -> bool:
    """An overlap window can bring an older copy of a row we already have newer: ignore it."""
    return bool(local_modified and incoming_modified and incoming_modified < local_modified)


def _may_intercept(fields: dict, order_line_id) -> bool:
    return (
        order_line_id is not None
        and fields["refund_type"] == RefundType.REFUND
        and fields["platform_status"] == PlatformStatus.APPLIED
    )


def upsert_refunds(shop: Shop, page: Page, *, run: SyncRun) -> PageCounts:
    incoming = {row["refund_no"]: dict(row) for row in page.rows}
    set_aside = _SetAside(run, shop, SyncKind.REFUNDS)
    set_aside.add_page(page)
    updated = unchanged = 0
    counts = PageCounts(saved=list(incoming))
    with transaction.atomic():
        commit_without_waiting_for_disk()  # JD's data, downloaded again if lost: core.bulk says why
        set_aside.save(counts)
        order_ids, line_ids = _order_and_line_ids(
            shop,
            {f["tid"] for f in incoming.values()},
            {f["oid"] for f in incoming.values() if f["oid"]},
        )
        links = {
            refund_no: {"order_id": order_ids.get(f["tid"]), "order_line_id": line_ids.get(f["oid"])}
            for refund_no, f in incoming.items()
        }
        # New slips first, in one INSERT that leaves the slips we already have alone: the unique
        # (shop, refund_no) index alone decides which are new. A page of new slips (the bulk of a
        # busy day) then needs no lookup of existing slips at all; a lookup by refund_no on a table
        # whose statistics are behind (a fresh table, a new shop's first download) was planned as a
        # scan of the shop's slips and grew with every page.
        created = dict(  # refund_no → id of the slips this page brought
            insert_rows(
                RawRefund,
                [
                    {"shop_id": shop.pk, **fields, **links[no], **_attention(fields)}
                    for no, fields in incoming.items()
                ],
                skip_conflicts_on=("shop", "refund_no"),
                returning=("refund_no", "id"),
            )
        )
        known = [no for no in incoming if no not in created]
        # Rows are locked in id order everywhere (writeback, sync): no crosswise waits, no deadlocks.
        existing = (
            {
                r.refund_no: r
                for r in lock_raw_refunds(RawRefund.objects.filter(shop=shop, refund_no__in=known))
            }
            if known
            else {}
        )
        to_update, update_fields, events = [], set(), []
        for refund_no, fields in incoming.items():
            slip = existing.get(refund_no)
            found = links[refund_no]
            # Interception is decided for the whole page here, in memory: a page with no refund-only
            # slip on a known line costs no interception query.
            pk = created.get(refund_no) or (slip.pk if slip is not None else None)
            if pk and _may_intercept(fields, found["order_line_id"] or (slip and slip.order_line_id)):
                counts.to_intercept.append(pk)
            if refund_no in created:
                continue
            if slip is None or _is_stale(slip.platform_modified, fields["platform_modified"]):
                # None: deleted between the INSERT and the lock; the next run's overlap sees it again.
                unchanged += 1
                continue
            # Writeback state is ours: the platform's data never touches it.
            fields.update({k: v for k, v in found.items() if v is not None})
            if not slip.attention:
                fields.update(_attention(fields))
            code = fields["platform_status_code"]
            label = platforms.state_label(shop.platform, code) or code
            reason = f"{shop.get_platform_display()}退款状态：{label}"
            if _merge(
                slip,
                fields,
                status_field="platform_status",
                reason=reason,
                events=events,
                update_fields=update_fields,
            ):
                to_update.append(slip)
                updated += 1
            else:
                unchanged += 1
        if to_update:
            RawRefund.objects.bulk_update(to_update, [*update_fields, "updated_at"])
        # New slips get no event of their own: their 下载时间 and the run (同步记录) say when and how
        # they arrived, and a per-row event would double the write cost of every downloaded page.
        write_events(events)
    new = len(created)
    counts.new, counts.updated, counts.unchanged = new, updated, unchanged
    # What the receivers above need, as stored now (merged slips hold their new values): they need
    # not read the page back.
    states = {}
    for refund_no, fields in incoming.items():
        slip = existing.get(refund_no)
        states[refund_no] = (
            SavedState(slip.description, slip.refund_type, slip.platform_status, slip.keyword_warning)
            if slip is not None
            else SavedState(fields["description"], fields["refund_type"], fields["platform_status"], "")
        )
    # The page is committed: the apps above react (keyword check, 退款完成 on 退款成功) without this
    # module knowing them. A failing receiver is logged; it never undoes the page.
    sent = raw_refunds_saved.send_robust(RawRefund, shop_id=shop.pk, refund_nos=counts.saved, states=states)
    for _, error in sent:
        if isinstance(error, Exception):
            logger.error("raw_refunds_saved receiver failed shop=%s: %r", shop.shop_no, error)
    return counts


def _order_and_line_ids(shop, tids, oids) -> tuple[dict, dict]:
    """The ids of the page's known orders (by tid) and lines (by oid), in one round trip.

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


def shops_to_sync():
    # A shop whose token refresh JD refused waits for its new authorisation (sa_sync.credentials).
    return Shop.objects.filter(is_active=True, token_refresh_refused_at__isnull=True).exclude(app_key="")


def syncs_to_queue(now: datetime | None = None) -> list[tuple[int, str]]:
    """What beat's tick queues: (shop id, kind) of every active shop and kind that has neither a task
    waiting in the queue nor a run holding its lease, the least recently downloaded first; they are
    marked queued in the same transaction.

    With at most one waiting task per shop and kind, the queue is a round: a shop the workers did
    not reach in this tick keeps its place, and the shops done meanwhile queue behind it. (Dropping
    late tasks instead would let the first shops of every tick go again and again and the others
    never.) A mark older than the lease is a task the broker lost: the shop is queued again."""
    now = now or timezone.now()
    shop_ids = list(shops_to_sync().values_list("pk", flat=True))
    SyncCursor.objects.bulk_create(
        [SyncCursor(shop_id=shop_id, kind=kind) for shop_id in shop_ids for kind in SyncKind.values],
        ignore_conflicts=True,
    )
    busy = Q(queued_at__gt=now - LEASE) | Q(running_since__gt=now - LEASE)
    with transaction.atomic():
        due = list(
            SyncCursor.objects.filter(shop_id__in=shop_ids)
            .exclude(busy)
            .order_by(F("synced_until").asc(nulls_first=True), "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", "shop_id", "kind")
        )
        SyncCursor.objects.filter(pk__in=[pk for pk, _, _ in due]).update(queued_at=now)
    return [(shop_id, kind) for _, shop_id, kind in due]
