"""The error envelope every failure is sent in, and the exception that carries it.

Body: ``{"errors": [{"message", "code", ...}]}`` with ``code`` equal to the
HTTP status, one entry per problem. ``field`` (a JSON pointer into the request
body), ``parameter`` (a query parameter) and ``detail`` (a longer
explanation) are mockserver's additions; the
messages themselves are the real backend's wherever it has one.
"""

from dataclasses import dataclass
from typing import Any

# The real backend's message for each status, used when a problem has no
# message of its own (see wacht-api-behaviour.md).
STANDARD_MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Authentication failed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Resource already exists",
    413: "Request failed",
    415: "Request failed",
    422: "Invalid request payload",
    429: "Rate limit exceeded",
    500: "Something went wrong",
    503: "Service unavailable",
}
# How long a client is told to wait when a server the state needs is gone.
UNAVAILABLE_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Problem:
    message: str
    field: str | None = None
    detail: str | None = None
    parameter: str | None = None

    def as_entry(self, status: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"message": self.message, "code": status}
        if self.field is not None:
            entry["field"] = self.field
        if self.parameter is not None:
            entry["parameter"] = self.parameter
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


class ApiError(Exception):
    """A request that cannot be served; the app turns it into an error envelope."""

    def __init__(
        self,
        status: int,
        problems: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.problems = problems or [Problem(STANDARD_MESSAGES.get(status, "Request failed"))]
        # Headers the answer must carry, such as a 405's Allow.
        self.headers = headers or {}
        super().__init__(f"{status}: {self.problems[0].message}")

    @classmethod
    def single(
        cls,
        status: int,
        message: str | None = None,
        *,
        field: str | None = None,
        detail: str | None = None,
    ) -> "ApiError":
        text = message if message is not None else STANDARD_MESSAGES.get(status, "Request failed")
        return cls(status, [Problem(text, field=field, detail=detail)])

    def envelope(self) -> dict[str, Any]:
        return {"errors": [problem.as_entry(self.status) for problem in self.problems]}


def unavailable(
    what: str, condition: str = "cannot be reached", *, maybe_done: bool = False
) -> ApiError:
    """The 503 of a request that needs ``what`` (Redis, the database) while
    it cannot serve: ``condition`` says why (it cannot be reached, or Redis
    is out of memory; the contracts' examples list each). Nothing was
    changed, unless ``maybe_done`` (the database was lost between a write
    and its answer): then the client is told to look before writing again.
    ``Retry-After`` says when to try again."""
    seconds = UNAVAILABLE_RETRY_AFTER_S
    outcome = (
        "it may have been done: look before writing again."
        if maybe_done
        else "nothing was changed."
    )
    return ApiError(
        503,
        [
            Problem(
                STANDARD_MESSAGES[503],
                detail=f"{what} {condition}; {outcome} Try again in {seconds} s.",
            )
        ],
        headers={"Retry-After": str(seconds)},
    )
