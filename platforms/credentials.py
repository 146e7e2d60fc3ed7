"""A platform's authorisation, in the ERP's terms: what a grant holds and how a refusal is told.

The platform packages own the wire (JD: platforms/jd/oauth.py) and the port's verbs reach it
(`platform_for(shop).refresh_credentials(...)`, `.exchange_code(...)`, `.authorize_url(...)`): the
ERP's services and pages above the port read these types, never a platform's field names.
Pure Python: no Django at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REAUTHORISE_HINT = "请运营在「店铺」页点击「去京东授权」重新授权"


class OAuthError(Exception):
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    CONFIGURATION = "configuration"

    def __init__(self, kind: str, user_message: str, *, code: str = "", jd_message: str = ""):
        super().__init__(user_message)
        self.kind = kind
        self.user_message = user_message
        self.code = code
        self.jd_message = jd_message

    @property
    def refused(self) -> bool:
        return self.kind == self.REFUSED

    @property
    def retryable(self) -> bool:
        return self.kind == self.UNAVAILABLE

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return f"OAuthError(kind={self.kind!r}, code={self.code!r}, user_message={self.user_message!r})"


@dataclass(frozen=True)
class TokenGrant:
    """What JD granted. `refresh_token` is "" when JD's answer carried none (the old one stays)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    issued_at: datetime
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    scope: str = ""
    open_id: str = ""
    uid: str = ""
