"""Row locks of the orders app: orders, then lines (core.locks explains the order). Each takes a
queryset of its model or ids."""

from core.locks import lock_rows

from .models import Order, OrderLine


def lock_orders(rows):
    return lock_rows(Order, rows)


def lock_order_lines(rows):
    return lock_rows(OrderLine, rows)
