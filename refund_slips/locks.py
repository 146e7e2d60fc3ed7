"""Row locks of refund_slips: refund slips come last, after orders, lines, raw refund slips and return
slips (core.locks explains the order). Each takes a queryset of its model or ids."""

from core.locks import lock_rows

from .models import RefundSlip


def lock_refund_slips(rows):
    return lock_rows(RefundSlip, rows)
