"""Reads: the auto-writeback's candidate query and why a slip is not a candidate; the sync's runs.

One selection for the run and for the settings page's preview (`select_candidates`): the preview
shows exactly what the next run would send, because it is the same code.

The candidate query is a prefilter the database can answer from the partial index
`rawrefund_autowb_cand_idx` (shop, refund_type, platform_status, id) WHERE writeback_status IN
(未回传, 回传中, 回传失败): slips already written back are not in that index, so the query's cost
does not grow with them. Each slip it returns is then checked in Python by `exclusion`: the rule's
conditions and the slip's own `writeback_refusal()`, the final word (the writeback service checks
it again when it claims the slip).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from refunds.models import (
    ALREADY_DONE,
    IN_FLIGHT,
    WRITEBACK_KIND_FOR,
    WRITEBACK_LEASE,
    RawRefund,
    WritebackKind,
    WritebackStatus,
    sendable_condition,
)

from .models import SyncRun

OPEN_STATUSES = [int(WritebackStatus.NOT_SENT), int(WritebackStatus.SENDING), int(WritebackStatus.FAILED)]

# Why a slip is not sent, as the preview and the run history group them.
CREDENTIALS = "店铺授权异常"
TYPE_STATUS = "类型/状态不符"
REASON_MISMATCH = "原因不匹配"
GROUP_DONE = "已回传"
GROUP_IN_FLIGHT = "回传中"
NOT_RETRYABLE = "回传失败且不可自动重试"
BUDGET_USED = "重试次数已用完"
WAITING_RETRY = "等待重试"
ABOVE_FINANCE = "订单状态大于财审"
NO_ORDER = "未找到系统订单"
NOT_ARRIVED = "退货未到货"
NO_KIND = "无需回传"
SHOP_DISABLED = "店铺未启用SA回传"
JD_STATE = "京东状态不可回传"
OVER_BATCH = "超出每次条数，下次回传"

# How far back the run and the preview look to explain what they left (bounded work per run).
EXPLAIN_LIMIT = 2000


def retry_budget() -> int:
    return int(getattr(settings, "AUTO_WRITEBACK_RETRY_BUDGET", 5))


def candidate_parts(rule, now=None) -> list:
    """The candidate query as index-friendly parts: one per (writeback status, type, platform
    status), each an equality prefix of the partial index, so each reads its rows in id order and
    stops at the batch size. Its cost follows the open slips it reads, never the written-back ones."""
    now = now or timezone.now()
    shop = rule.shop
    if not shop.sa_writeback_enabled:
        return []
    due = {
        WritebackStatus.NOT_SENT: Q(),
        WritebackStatus.FAILED: Q(
            next_attempt_at__isnull=False, next_attempt_at__lte=now, writeback_attempts__lt=retry_budget()
        ),
        # Claimed by a process that died: the service releases it when it meets it.
        WritebackStatus.SENDING: Q(writeback_claimed_at__isnull=True)
        | Q(writeback_claimed_at__lte=now - WRITEBACK_LEASE),
    }
    parts = []
    for (refund_type, platform_status), kind in WRITEBACK_KIND_FOR.items():
        if refund_type not in rule.refund_types or platform_status not in rule.platform_statuses:
            continue
        # The slip's own rule as a query (refunds.models), with the shop's arrival rule filled in.
        sendable = sendable_condition(kind, arrival_rule=shop.arrival_rule)
        for status, when in due.items():
            qs = RawRefund.objects.filter(
                sendable,
                when,
                shop_id=shop.pk,
                writeback_status=status,
                refund_type=refund_type,
                platform_status=platform_status,
                # writeback_status = 0/1/3 implies the partial index's condition (PostgreSQL proves
                # it); repeating the IN here would make the planner count the status twice and
                # underestimate the rows, choosing a bitmap scan and a sort over the ordered scan.
            )
            if rule.reasons:
                qs = qs.filter(reason__in=rule.reasons)
            parts.append(qs)
    return parts


def count_matches(rule, now=None, cap=None) -> int:
    """How many slips the rule matches now, counted up to `cap` per part (bounded work)."""
    cap = cap or MATCH_COUNT_CAP
    return min(cap, sum(part[:cap].count() for part in candidate_parts(rule, now)))


def exclusion(slip, rule, now=None) -> tuple[str, str] | None:
    """(group, detail) when the rule would not send this slip now; None when it would."""
    now = now or timezone.now()
    if slip.refund_type not in rule.refund_types or slip.platform_status not in rule.platform_statuses:
        return TYPE_STATUS, f"{slip.get_refund_type_display()}/{slip.get_platform_status_display()}"
    if rule.reasons and slip.reason not in rule.reasons:
        return REASON_MISMATCH, f"原因“{slip.reason or '（空）'}”不在规则中"
    status = slip.writeback_status
    if status == WritebackStatus.SUCCEEDED:
        return GROUP_DONE, slip.writeback_message or ALREADY_DONE
    if status == WritebackStatus.SENDING and not slip.claim_expired(now):
        return GROUP_IN_FLIGHT, IN_FLIGHT
    if status == WritebackStatus.FAILED:
        if slip.next_attempt_at is None:
            return NOT_RETRYABLE, f"{slip.writeback_message}（请处理后手动回传）"
        if slip.writeback_attempts >= retry_budget():
            return BUDGET_USED, f"已回传 {slip.writeback_attempts} 次：{slip.writeback_message}"
        if slip.next_attempt_at > now:
            when = timezone.localtime(slip.next_attempt_at).strftime("%m-%d %H:%M")
            return WAITING_RETRY, f"{when} 后重试：{slip.writeback_message}"
    refusal = slip.writeback_refusal()
    if refusal:
        return _refusal_group(slip), refusal
    if slip.shop.credential_error:
        return CREDENTIALS, slip.shop.credential_error
    return None


def _refusal_group(slip) -> str:
    kind = slip.writeback_kind
    if kind is None:
        return NO_KIND
    if not slip.shop.sa_writeback_enabled:
        return SHOP_DISABLED
    if slip.platform_state_refusal(kind):
        return JD_STATE
    if kind == WritebackKind.GOODS_IN_WAREHOUSE:
        return NOT_ARRIVED
    if slip.order_id is None:
        return NO_ORDER
    return ABOVE_FINANCE


@dataclass
class Selection:
    slips: list = field(default_factory=list)  # to send, oldest first
    refused: list = field(default_factory=list)  # (slip, group, detail): matched but not sendable
    more: bool = False  # candidates left for the next run

    @property
    def ids(self) -> list[int]:
        return [s.pk for s in self.slips]


MATCH_COUNT_CAP = 1000


def select_candidates(rule, now=None, *, lock: bool = False) -> Selection:
    """Oldest first, at most the rule's batch size. Ids come from the index-ordered parts; the rows
    are then read (with `lock=True`, inside the run's transaction: FOR UPDATE SKIP LOCKED — a slip
    another process is claiming right now is left to it) and checked by `exclusion`, the final word."""
    now = now or timezone.now()
    parts = candidate_parts(rule, now)
    selection = Selection()
    last_id = 0
    # The query and exclusion() agree, so one round is the norm; more only if they drift.
    for _ in range(10):
        wanted = rule.batch_size - len(selection.slips)
        found = sorted(
            {
                i
                for part in parts
                for i in part.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[: wanted + 1]
            }
        )
        selection.more = len(found) > wanted
        chosen = found[:wanted]
        rows = (
            RawRefund.objects.filter(pk__in=chosen)
            .select_related("shop", "order", "order_line")
            .order_by("id")
        )
        if lock:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        for slip in rows:
            why = exclusion(slip, rule, now)
            if why is None:
                selection.slips.append(slip)
            else:
                selection.refused.append((slip, *why))
        if not selection.more or len(selection.slips) >= rule.batch_size or not chosen:
            break
        last_id = chosen[-1]
    return selection


def explain_exclusions(rule, now=None, *, skip_ids=(), include_done=False, limit=EXPLAIN_LIMIT):
    """The rule's slips that will not be sent, newest first, with why: [(slip, group, detail)].

    The run looks only at open slips (未回传/回传中/回传失败, the partial index); the preview also
    shows the latest ones already written back."""
    now = now or timezone.now()
    qs = RawRefund.objects.filter(
        shop_id=rule.shop_id,
        refund_type__in=rule.refund_types,
        platform_status__in=rule.platform_statuses,
    )
    if not include_done:
        qs = qs.filter(writeback_status__in=OPEN_STATUSES)
    qs = qs.exclude(pk__in=list(skip_ids)).select_related("shop", "order", "order_line").order_by("-id")
    out = []
    for slip in qs[:limit]:
        why = exclusion(slip, rule, now)
        if why is not None:
            out.append((slip, *why))
    return out


# --- platform sync ---------------------------------------------------------------------------
def latest_run_fields(queryset, kind=None):
    """Annotate shops with their latest sync run (time, status, rows, error) in the same query."""
    runs = SyncRun.objects.filter(shop=OuterRef("pk"))
    if kind:
        runs = runs.filter(kind=kind)
    runs = runs.order_by("-id")
    return queryset.annotate(
        last_sync_at=Subquery(runs.values("started_at")[:1]),
        last_sync_status=Subquery(runs.values("status")[:1]),
        last_sync_rows=Subquery(runs.values("rows_new")[:1]),
        last_sync_error=Subquery(runs.values("error")[:1]),
    )
