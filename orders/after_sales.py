"""One open after-sales per order line: the shared check, without upward imports.

Return slips (returns/) and refund slips (refund_slips/) both open an after-sales case on order lines,
and a line may have only one open case at a time. The apps sit at different layers (refund_slips above
returns), so neither may ask the other directly from below: each app that holds after-sales documents
registers a guard here (from its AppConfig.ready), and every creator asks `after_sales_refusal()` under
its order-line locks. A guard answers in words, naming the line and the open document.

A guard is called with the order line ids, and with what the new document belongs to (the raw refund
slip, the return slip), so documents of the same case (a return slip and the refund slip of one raw
refund) do not block each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Guard = Callable[..., str | None]

_guards: dict[str, Guard] = {}


def register_after_sales_guard(name: str, guard: Guard) -> None:
    """`guard(line_ids, *, kind, raw_refund_id, return_slip_id)` → refusal or None. Registered once
    per name (re-registering replaces it: ready() may run twice in tests)."""
    _guards[name] = guard


def after_sales_refusal(
    line_ids: Iterable[int],
    *,
    kind: str,
    raw_refund_id: int | None = None,
    return_slip_id: int | None = None,
) -> str | None:
    """Why these lines cannot get a new after-sales document of `kind` ("return" / "refund"), or None.
    Call it with the lines locked (orders.locks.lock_order_lines), so two creators wait on each other."""
    line_ids = sorted(set(line_ids))
    if not line_ids:
        return None
    for guard in _guards.values():
        refusal = guard(line_ids, kind=kind, raw_refund_id=raw_refund_id, return_slip_id=return_slip_id)
        if refusal:
            return refusal
    return None
