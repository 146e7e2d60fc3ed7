"""The platform port: what the ERP asks of a sales platform, in the ERP's own terms.

Everything that knows a platform's wire format (method names, parameter and field names, envelopes,
signing, error codes, paging) lives in that platform's package (platforms/jd/ for JD) behind this
interface; `platforms.platform_for(shop)` chooses the package by the shop's platform. The ERP's
decisions (may this slip be written back, interception, arrival rules) stay above, in sa_sync,
refunds and orders, and read only what this module defines.

Normalised rows are dicts keyed by the ERP's field names, so the ingest service writes them as they
come (one bulk INSERT per page):
- an after-sales row (`REFUNDS`): the fields of refunds.models.RawRefund: refund_no, tid, oid,
  refund_type, platform_status, platform_status_code, reason, description, refund_amount, num,
  buyer_nick, apply_time, check_time, platform_modified, return_logistics_company,
  return_logistics_no, platform_object, platform_id, needs_manual_interception, attention;
- an order row (`ORDERS`): {"order": Order fields (tid, status, …), "lines": [OrderLine fields],
  "promotions": [OrderPromotion fields]}.

Not in the interface yet: refreshing a shop's credentials (JD's OAuth refresh token is built
separately, in platforms/jd/oauth.py); it joins the port when it exists, rather than as a stub.

Pure Python, no Django: the SA sandbox imports the platform packages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .credentials import TokenGrant
from .errors import PlatformError

# What `list_changed` lists (the values of sa_sync.models.SyncKind). SERVICE_ORDERS: a platform's
# after-sales after receipt when it keeps them apart (JD's 服务单); rows of the same shape as REFUNDS.
ORDERS, REFUNDS, SERVICE_ORDERS = "orders", "refunds", "service_orders"
# The two writebacks (the values of refunds.models.WritebackKind).
SHIPMENT_CANCELLED, GOODS_IN_WAREHOUSE = "shipment_cancelled", "goods_in_warehouse"


@dataclass
class SetAside:
    """A platform row the ERP cannot store as it is (`cut=False`: refused, with the field and the
    problem) or stored with text cut to fit (`cut=True`). `raw` is the row as the platform sent it,
    secrets blanked: ops read it in 同步异常数据."""

    platform_id: str
    reason: str
    raw: object
    cut: bool = False


@dataclass
class Page:
    """One page of changed after-sales or orders, normalised (see the module docstring)."""

    rows: list[dict]
    set_aside: list[SetAside] = field(default_factory=list)


@dataclass
class Snapshot:
    """The fresh read before a writeback: the current state of the asked refs.

    `rows`: ref (refund_no) → normalised after-sales row; a ref the platform does not know is absent.
    `unreadable`: ref → why its row could not be read (the slip is not sent on it).
    `error`: the read failed as a whole (nothing may be sent blind); `request`: what was asked, safe
    to store on the attempt."""

    rows: dict[str, dict] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    request: dict = field(default_factory=dict)
    error: PlatformError | None = None


# The refs one `read` takes at most: JD's page size; a platform with a smaller one pages inside `read`.
READ_BATCH = 50

ACCEPTED, REFUSED, UNKNOWN, NOT_SENT = "accepted", "refused", "unknown", "not_sent"


@dataclass
class WriteOutcome:
    """What came of one writeback.

    - ACCEPTED: the platform answered that it took it;
    - REFUSED: the platform answered no (`code` and `words` are its own); nothing was done there;
    - UNKNOWN: the answer was lost, timed out, 5xx or unreadable after the request may have reached
      the platform: it may have been done. Never repeated before the platform is read;
    - NOT_SENT: the request never left (no credentials, the rate limiter down, the connection
      refused before sending).
    `error` is the PlatformError behind any outcome but ACCEPTED (its flags say whether to retry and
    whether the shop's credentials are at fault); `request` and `response` are safe to store."""

    outcome: str
    code: str = ""
    words: str = ""
    error: PlatformError | None = None
    request: dict = field(default_factory=dict)
    response: dict = field(default_factory=dict)
    attempts: int = 0

    @property
    def accepted(self) -> bool:
        return self.outcome == ACCEPTED


class Platform(Protocol):
    """One shop's connection to its platform. Built by `platforms.platform_for(shop)`; the methods
    make network calls and touch no database (the writeback calls them in threads)."""

    code: str  # orders.models.Platform value, e.g. "jd"
    label: str  # the platform's name for users, e.g. "京东"

    def list_changed(self, kind: str, start: datetime, end: datetime) -> Iterator[Page]:
        """Pages of the after-sales (`REFUNDS`) or orders (`ORDERS`) changed in [start, end)."""

    def read(self, refs: Sequence[str], objects: Mapping[str, str] | None = None) -> Snapshot:
        """The current state of these after-sales (at most `READ_BATCH` refs). `objects`: ref → the
        platform object the slip came from (its `platform_object`), when known."""

    def write_shipment_cancelled(self, slip) -> WriteOutcome:
        """Tell the platform the slip's goods never left the warehouse (取消发货成功)."""

    def write_goods_in_warehouse(self, slip) -> WriteOutcome:
        """Tell the platform the slip's returned goods are in the warehouse (退货入仓)."""

    def state_label(self, code: str) -> str:
        """The platform's own words for one of its after-sales state codes."""

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The platform's authorisation page for the shop's app; it sends the merchant back to
        `redirect_uri` with a code and `state`."""

    def exchange_code(self, code: str) -> TokenGrant:
        """The tokens for an authorisation code (raises platforms.credentials.OAuthError)."""

    def refresh_credentials(self, refresh_token: str) -> TokenGrant:
        """New tokens before the access token expires (raises platforms.credentials.OAuthError)."""


def write(platform: Platform, slip, kind: str) -> WriteOutcome:
    """The writeback of `kind` for `slip`."""
    if kind == SHIPMENT_CANCELLED:
        return platform.write_shipment_cancelled(slip)
    if kind == GOODS_IN_WAREHOUSE:
        return platform.write_goods_in_warehouse(slip)
    raise ValueError(f"unknown writeback kind {kind!r}")


# --- platform rows as ops may read them ----------------------------------------------------------
def safe_raw(item, secret_keys: frozenset[str]):
    """A platform row as stored for ops: secret-looking keys blanked (platform rows carry none, but
    the table must never hold one), NUL shown as text (PostgreSQL's jsonb refuses it)."""
    if isinstance(item, Mapping):
        return {
            visible(k): ("***" if k in secret_keys else safe_raw(v, secret_keys)) for k, v in item.items()
        }
    if isinstance(item, list):
        return [safe_raw(v, secret_keys) for v in item]
    return visible(item) if isinstance(item, str) else item


def visible(text: str) -> str:
    return text.replace("\x00", "\\u0000")
