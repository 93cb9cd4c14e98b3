"""Exceptions shared across layers (layer 0: imports nothing from cti).

Expected protocol anomalies are logged and counted where they happen; these exceptions are for
callers that must decide what to do (retry, tell the agent why a click-to-dial failed…).
"""

from __future__ import annotations


class CtiError(Exception):
    """Base of cti's own exceptions."""


class AmiError(CtiError):
    """Base of the AMI client's errors."""


class AmiNotConnected(AmiError):
    """Not logged in to the AMI, or the connection dropped before the answer came."""


class AmiTimeout(AmiError, TimeoutError):
    """No (complete) AMI answer within the timeout."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` (or Fail); ``response`` holds the whole answer."""

    def __init__(self, message: str, response: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.response: dict[str, str] = response or {}


class AmiAuthError(AmiActionError):
    """AMI login refused: wrong username or secret, or the user's ACL (manager.conf)."""


class ValidationError(CtiError, ValueError):
    """A value a person (or an API client) gave is not acceptable. ``field`` names it (``name``,
    ``phones``, ``company_id``…) so a form can put the message next to the right input; the web
    layer renders it as 400/422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(CtiError, LookupError):
    """No such object (unknown client id…); the web layer renders it as 404."""


class Conflict(CtiError):
    """The request is valid but the current state forbids it (a delete vetoed because tickets
    still point at the client…); the web layer renders it as 409."""
