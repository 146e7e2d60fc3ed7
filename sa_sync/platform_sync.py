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
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import platforms
from core.bulk import commit_without_waiting_for_disk
from orders.models import Shop
from orders.services import shop_mark_credentials_refused, shop_mark_credentials_working
from platforms.errors import PlatformError
from platforms.port import Page, Platform, visible
from refunds.models import PlatformObject, RawRefund
from refunds.services import raw_refund_intercept
from refunds.signals import SavedState, raw_refunds_saved

from . import ingest
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
        # Refund applications and service orders (JD's 服务单) both become raw refund slips.
        counts = upsert_refunds(shop, page, run=run, kind=kind)
        _count(run, counts)
        if counts.to_intercept:
            raw_refund_intercept(counts.to_intercept, by=SYNC_ACTOR)
    run.save(update_fields=RUN_COUNTS)


def _set_aside_collisions(run, shop, kind, page, collided: dict, counts: PageCounts):
    """Rows whose 平台退款单号 is already another object's slip in this shop: set aside with both named."""
    rows = {row["refund_no"]: row for row in page.rows}
    collisions = _SetAside(run, shop, kind)
    for refund_no, stored_object in collided.items():
        fields = rows[refund_no]
        incoming_object = fields.get("platform_object", PlatformObject.REFUND_APPLY)
        collisions.add(
            SyncRowOutcome.REJECTED,
            fields.get("platform_id", refund_no),
            json.loads(json.dumps(fields, ensure_ascii=False, default=str)),
            f"平台退款单号 {refund_no} 已是本店铺的{PlatformObject(stored_object).label}，"
            f"不能再保存为{PlatformObject(incoming_object).label}（平台退款单号须唯一），请联系管理员",
        )
    collisions.save(counts)


# --- a page: one transaction, stored through the ingest home ---------------------------------------
def _telling(shop) -> ingest.SyncTelling:
    return ingest.SyncTelling(
        shop, SYNC_ACTOR, lambda code: platforms.state_label(shop.platform, code) or code
    )


def upsert_orders(shop: Shop, page: Page, *, run: SyncRun) -> PageCounts:
    # The platform package read and checked the rows in memory: a bad row cost no query.
    set_aside = _SetAside(run, shop, SyncKind.ORDERS)
    set_aside.add_page(page)
    counts = PageCounts(saved=[row["order"]["tid"] for row in page.rows])
    with transaction.atomic():
        commit_without_waiting_for_disk()  # platform data, downloaded again if lost: core.bulk says why
        set_aside.save(counts)
        done = ingest.ingest_orders(shop, page.rows, telling=_telling(shop), by=SYNC_ACTOR)
    counts.new, counts.updated = done.count(ingest.CREATED), done.count(ingest.UPDATED)
    counts.unchanged = done.count(ingest.UNCHANGED) + done.count(ingest.STALE)
    return counts


def upsert_refunds(shop: Shop, page: Page, *, run: SyncRun, kind: str = SyncKind.REFUNDS) -> PageCounts:
    set_aside = _SetAside(run, shop, kind)
    set_aside.add_page(page)
    with transaction.atomic():
        commit_without_waiting_for_disk()  # platform data, downloaded again if lost: core.bulk says why
        counts = PageCounts()
        set_aside.save(counts)
        done = ingest.ingest_refunds(shop, page.rows, telling=_telling(shop))
        if done.collided:
            _set_aside_collisions(run, shop, kind, page, done.collided, counts)
    counts.saved = list(done.rows)
    counts.to_intercept = done.to_intercept
    counts.new, counts.updated = done.count(ingest.CREATED), done.count(ingest.UPDATED)
    counts.unchanged = done.count(ingest.UNCHANGED) + done.count(ingest.STALE)
    # What the receivers above need, as stored now (merged slips hold their new values): they need
    # not read the page back.
    incoming = {row["refund_no"]: row for row in page.rows}
    states = {}
    for refund_no, stored in done.rows.items():
        slip, fields = stored.slip, incoming[refund_no]
        states[refund_no] = (
            SavedState(slip.description, slip.refund_type, slip.platform_status, slip.keyword_warning)
            if slip is not None
            else SavedState(
                fields.get("description", ""), fields["refund_type"], fields["platform_status"], ""
            )
        )
    # The page is committed: the apps above react (keyword check, 退款完成 on 退款成功) without this
    # module knowing them. A failing receiver is logged; it never undoes the page.
    sent = raw_refunds_saved.send_robust(RawRefund, shop_id=shop.pk, refund_nos=counts.saved, states=states)
    for _, error in sent:
        if isinstance(error, Exception):
            logger.error("raw_refunds_saved receiver failed shop=%s: %r", shop.shop_no, error)
    return counts


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
