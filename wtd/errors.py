"""One root for every error a user can see; each maps to a wire code and an exit code.

At the socket an error becomes ``{"code", "message", "suggestions"}``; wtctl turns
the code into its exit status (SPEC §4): 1 failed/not found, 2 invalid command or
argument, 3 consent required, 4 denied, 5 unavailable.
"""

from __future__ import annotations

from typing import Final

EXIT_CODES: Final[dict[str, int]] = {
    "failed": 1,
    "not_found": 1,
    "not_understood": 1,
    "storage": 1,
    "internal": 1,
    "unknown_phrase": 2,
    "invalid_task_id": 2,
    "invalid_status": 2,
    "invalid_argument": 2,
    "bad_request": 2,
    "not_available": 2,
    "consent_required": 3,
    "denied": 4,
    "unsafe_path": 4,
    "too_large": 1,
    "unavailable": 5,
    "elsewhere": 5,
    "outcome_unknown": 5,
    "circuit_open": 5,
}


def exit_code(code: str) -> int:
    return EXIT_CODES.get(code, 1)


class WtdError(Exception):
    """Root of the errors that become an error reply (code + actionable message)."""

    code: str = "failed"

    def __init__(self, message: str, *, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = list(suggestions or [])


class NotFound(WtdError):
    """A task, phase, sub-task or tracker that does not exist (suggestions: nearest)."""

    code = "not_found"


class InvalidArgument(WtdError):
    """The phrase was understood but an argument is not acceptable."""

    code = "invalid_argument"


class StorageFailure(WtdError):
    """The change could not be made durable; it was not applied."""

    code = "storage"


class CircuitOpen(WtdError):
    """A dependency's circuit breaker is OPEN: writes are paused (exit 5)."""

    code = "circuit_open"


class OutcomeUnknown(WtdError):
    """wtd failed while carrying the request out: it may or may not have been applied.
    Not a failure (exit 5): a retry with the same request id settles it."""

    code = "outcome_unknown"


class Denied(WtdError):
    """Enforcement refused the request (exit 4); nothing the caller says lifts it."""

    code = "denied"


class LimitRefused(WtdError):
    """A file over the size or nesting limits: refused and left as it is (exit 1)."""

    code = "too_large"
