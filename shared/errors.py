"""Domain errors that cross RPC intact and map to one HTTP status each at the gateway.

Every class is registered with nameko's `deserialize_to_instance`, so a `NotFound` raised
in billing is re-raised as `NotFound` (same message, same per-field details) in the
gateway, instead of an opaque `RemoteError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nameko.exceptions import deserialize_to_instance

FieldErrors = Mapping[str, Any]


class DomainError(Exception):
    """Base of every error a caller is meant to see. `fields` names the fields at fault."""

    code = "error"
    status = 400

    def __init__(
        self, message: str, fields: FieldErrors | None = None, retry_after: int | None = None
    ) -> None:
        # Everything lives in `args`: that is what nameko serializes across RPC.
        super().__init__(message, dict(fields or {}), retry_after)

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def fields(self) -> dict[str, Any]:
        return self.args[1]

    @property
    def retry_after(self) -> int | None:
        """Seconds after which trying again may succeed (429, 503). Across RPC the value
        arrives as text ("30", or "None" when there was none)."""
        try:
            seconds = int(str(self.args[2]))
        except ValueError:
            return None
        return seconds if seconds > 0 else None

    def __str__(self) -> str:
        return self.message

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


@deserialize_to_instance
class BadRequest(DomainError):
    code, status = "bad_request", 400


@deserialize_to_instance
class ValidationFailed(DomainError):
    code, status = "validation_failed", 422


@deserialize_to_instance
class Unauthorized(DomainError):
    code, status = "unauthorized", 401


@deserialize_to_instance
class PaymentRequired(DomainError):
    code, status = "payment_required", 402


@deserialize_to_instance
class Forbidden(DomainError):
    code, status = "forbidden", 403


@deserialize_to_instance
class NotFound(DomainError):
    code, status = "not_found", 404


@deserialize_to_instance
class MethodNotAllowed(DomainError):
    code, status = "method_not_allowed", 405


@deserialize_to_instance
class Conflict(DomainError):
    code, status = "conflict", 409


@deserialize_to_instance
class Gone(DomainError):
    code, status = "gone", 410


@deserialize_to_instance
class PayloadTooLarge(DomainError):
    code, status = "payload_too_large", 413


@deserialize_to_instance
class UnsupportedMediaType(DomainError):
    code, status = "unsupported_media_type", 415


@deserialize_to_instance
class RateLimited(DomainError):
    code, status = "rate_limited", 429


@deserialize_to_instance
class Unavailable(DomainError):
    code, status = "unavailable", 503
