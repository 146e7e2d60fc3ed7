"""Counting without a full COUNT(*) on big lists.

Admin changelists call `paginator.count` on every page. On a million slips an exact COUNT of a broad
filter costs more than the page itself, so we count at most COUNT_CAP + 1 rows: one query, bounded
cost, the same number of queries at any size. Past the cap the page says 超过 N 条 and offers the
first COUNT_CAP rows' pages; narrowing the filters gives the exact number again.
"""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    cap = COUNT_CAP

    @cached_property
    def count(self):
        # Slicing a queryset and counting it is SELECT COUNT(*) FROM (… LIMIT cap+1): the database
        # stops after cap+1 rows instead of walking the whole index.
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap
