"""Row locks of the orders app: orders, then lines (core.locks explains the order); a shop is locked
alone, for its credentials. Each takes a queryset of its model or ids."""

from core.locks import lock_rows

from .models import Order, OrderLine, Shop


def lock_orders(rows):
    return lock_rows(Order, rows)


def lock_order_lines(rows):
    return lock_rows(OrderLine, rows)


def lock_shops(rows):
    return lock_rows(Shop, rows)
