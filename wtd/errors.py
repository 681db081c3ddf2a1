"""One root for every error a user can see; each maps to a wire code and an exit code.

At the socket an error becomes ``{"code", "message", "suggestions"}``; wtctl turns
the code into its exit status (SPEC §4): 1 failed/not found, 2 invalid command or
argument, 3 consent required, 4 denied, 5 unavailable. The codes and their exit
statuses are the wire's (``wtd.wire.EXIT_CODES``), re-exported here.
"""

from __future__ import annotations

from wtd.wire import EXIT_CODES, exit_code

__all__ = [
    "EXIT_CODES",
    "CircuitOpen",
    "Denied",
    "InvalidArgument",
    "LimitRefused",
    "NotFound",
    "OutcomeUnknown",
    "StorageFailure",
    "WtdError",
    "exit_code",
]


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


class BeingMerged(WtdError):
    """git stopped a merge on a conflict in the tracker's JSON (its markers are in the
    file): nothing is written over it until the merge is resolved (exit 5)."""

    code = "being_merged"


class Unavailable(WtdError):
    """Not carried out now, for a reason that passes (exit 5): nothing was changed — the
    workspace replaced under wtd, the machine out of files, memory or disk."""

    code = "unavailable"
