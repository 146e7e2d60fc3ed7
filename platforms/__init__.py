"""The sales platforms behind one port (platforms/port.py): one package per platform owns its wire
format and hands the ERP normalised values; nothing above this package reads a platform's field or
method name.

    platform = platform_for(shop)            # the shop's platform package, ready to call
    for page in platform.list_changed(REFUNDS, start, end): ...
    outcome = platform.write_shipment_cancelled(slip)

The state functions below let the ERP's rules (refunds.models) ask about a platform's after-sales
state codes without knowing them: which codes the platform acts on for a writeback, and why one
stops it.

Pure Python at import (no Django): the SA sandbox imports the platform packages; a platform's
client, which needs Django's settings, is imported only when `platform_for` is called.
"""

from __future__ import annotations

from .jd import codes as _jd_codes
from .port import GOODS_IN_WAREHOUSE, ORDERS, REFUNDS, SHIPMENT_CANCELLED

__all__ = [
    "GOODS_IN_WAREHOUSE",
    "ORDERS",
    "REFUNDS",
    "SHIPMENT_CANCELLED",
    "PLATFORMS",
    "acting_codes",
    "platform_for",
    "state_label",
    "state_refusal",
]

JD = "jd"
# The platforms a shop can be on (orders.models.Platform values) → their state table. A new platform
# adds its package, a line here and one in `platform_for`; the rules above do not change.
_STATE_TABLES = {JD: _jd_codes}
PLATFORMS = tuple(_STATE_TABLES)


def platform_for(shop, **options):
    """The port for this shop's platform. `options` go to the platform's constructor (tests pass a
    prepared client)."""
    name = getattr(shop, "platform", JD) or JD
    if name == JD:
        from .jd.adapter import JdPlatform

        return JdPlatform(shop, **options)
    raise LookupError(f"no platform package for {name!r}")


def _table(platform: str):
    try:
        return _STATE_TABLES[platform or JD]
    except KeyError:
        raise LookupError(f"no platform package for {platform!r}") from None


def acting_codes(platform: str, kind: str) -> list[str]:
    """The platform's after-sales state codes in which it acts on a writeback of `kind`."""
    return _table(platform).acting_codes(kind)


def state_refusal(platform: str, code: str, kind: str, kind_label: str) -> str | None:
    """Why the platform's state `code` (as stored on the slip, "" when never read) stops a writeback
    of `kind`, in words CS read; None when the platform would act on it (or the state is not known
    yet: the fresh read before sending decides)."""
    return _table(platform).refusal(code, kind, kind_label)


def state_label(platform: str, code: str) -> str:
    """The platform's own words for a state code ("" when unknown)."""
    return _table(platform).state_label(code)
