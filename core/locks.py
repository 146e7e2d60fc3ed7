"""Row locks, taken the same way everywhere.

Every verb that locks rows of more than one table locks them in one order: orders, then order
lines, then slips (raw refund slips, later return and refund slips), each set by id. Two verbs then
never wait on each other crosswise, so they cannot deadlock. Each app has a `locks.py` with one
function per set of rows, built on `lock_rows`; verbs lock through those, never ad hoc.
"""

from __future__ import annotations


def lock_rows(model, rows, *, skip_locked: bool = False):
    """`SELECT … FOR UPDATE` of `rows` (a queryset of `model`, or ids) and nothing they join, in id
    order. Lazy like any queryset: evaluate it inside the caller's transaction. `skip_locked` leaves
    rows another transaction holds to it."""
    queryset = rows if hasattr(rows, "filter") else model.objects.filter(pk__in=list(rows))
    return queryset.select_for_update(of=("self",), skip_locked=skip_locked).order_by("pk")
