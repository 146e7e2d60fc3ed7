"""Row locks of the returns app: return slips come after orders, lines and raw refund slips
(core.locks explains the order). Each takes a queryset of its model or ids."""

from core.locks import lock_rows

from .models import ReturnSlip


def lock_return_slips(rows):
    return lock_rows(ReturnSlip, rows)
