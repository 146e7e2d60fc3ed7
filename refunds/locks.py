"""Row locks of the refunds app: slips come after orders and lines (core.locks explains the order).
Each takes a queryset of its model or ids."""

from core.locks import lock_rows

from .models import RawRefund


def lock_raw_refunds(rows, *, skip_locked: bool = False):
    return lock_rows(RawRefund, rows, skip_locked=skip_locked)
