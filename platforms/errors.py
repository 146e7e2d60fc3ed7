"""What a platform call can fail with, in the ERP's terms: the code the platform gave, what a user
should read, and three flags the callers decide on (never on codes):

- `retryable`: the same call, made again later, may succeed (a call limit, a platform timeout, HTTP 5xx).
- `credential_problem`: the shop's keys, token or API permission are wrong: the shop's calls stop
  until ops fix them.
- `outcome_unknown`: a write whose answer was lost after the request may have reached the platform
  (a timeout after sending, a 5xx, an unreadable answer, a connection reset after sending). Not a
  refusal: the platform may have done it. A write is never repeated blind on such an error; the
  platform is read first.

`user_message` is plain Chinese and never contains a secret. Each platform package subclasses
PlatformError with its own family (platforms.jd.errors.JosError for JD).

Pure Python: the SA sandbox imports the platform packages without Django.
"""

from __future__ import annotations


class PlatformError(Exception):
    retryable: bool = False
    credential_problem: bool = False
    outcome_unknown: bool = False
    # How many times a read may be retried inside one call for this kind of error; None means the
    # client's own limit.
    retry_limit: int | None = None

    def __init__(
        self,
        user_message: str,
        *,
        code: str = "",
        retryable: bool | None = None,
        credential_problem: bool | None = None,
        outcome_unknown: bool | None = None,
    ):
        super().__init__(user_message)
        self.user_message = user_message
        self.code = str(code)
        if retryable is not None:
            self.retryable = retryable
        if credential_problem is not None:
            self.credential_problem = credential_problem
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, retryable={self.retryable}, "
            f"outcome_unknown={self.outcome_unknown}, user_message={self.user_message!r})"
        )

    def __reduce__(self):
        # Exceptions pickle as cls(*args); ours take keyword attributes, so rebuild from __dict__.
        return (_rebuild, (type(self), self.user_message, dict(self.__dict__)))


def _rebuild(cls, user_message, state):
    error = cls.__new__(cls)
    Exception.__init__(error, user_message)
    error.__dict__.update(state)
    return error


class InternalError(PlatformError):
    """A bug on our side while talking to a platform: retried later, never taken as the platform's word."""

    retryable = True

    def __init__(self, user_message: str, **kwargs):
        kwargs.setdefault("code", "INTERNAL")
        super().__init__(user_message, **kwargs)
