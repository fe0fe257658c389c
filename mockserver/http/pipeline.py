"""The request pipeline, shared by the Wacht contract and the admin API.

Data flows one way, as in Prism: route (router.py) -> authenticate -> parse
and validate the query and the body (validation.py) -> handler
(handlers.py) -> serialize (exchange.py). Every failure along the way is an
:class:`ApiError` and leaves as the documented envelope. What a request was
and what it got is then written to the journal and the log.

The pipeline is the WSGI app in front of Flask: Flask serves only the pages
for people (tooling/pages), handed in by the app factory as :class:`Pages`.
Flask's request machinery alone cost 170 us of the 780 us a create took,
and the 3x-Prism throughput target leaves about 450 us for everything
(bench/README.md).
"""

import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mockserver.backend.clock import format_timestamp
from mockserver.backend.handlers import Call, Context, Document, Reply
from mockserver.backend.rules import RuleBroken
from mockserver.backend.sessions import SessionContexts
from mockserver.config import MAX_BODY_BYTES, Settings
from mockserver.contract.errors import ApiError, unavailable
from mockserver.contract.spec import Operation
from mockserver.contract.validation import parse_json_body, parse_query, validate_body
from mockserver.http.cors import CorsPolicy
from mockserver.http.exchange import Incoming, Outgoing, StartResponse
from mockserver.http.hosts import HostPolicy
from mockserver.http.logs import RequestLog
from mockserver.http.prefer import forced_response, read_preferences
from mockserver.http.printable import printable
from mockserver.http.router import Admission, Route, Router
from mockserver.http.secrets import masked_body, masked_headers, masked_query
from mockserver.state.database import SessionGone, Unavailable
from mockserver.state.sessions import SESSION_HEADER

logger = logging.getLogger("mockserver")

WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ADMIN_PREFIX = "/__admin/"
# application/json and any application/*+json, as the backend's JSON extractor.
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.!#$&^_-]+\+)?json$")
# Bodies kept in the journal are cut here; the journal is for reading, not replay.
JOURNAL_BODY_LIMIT = 64 * 1024


def read_json_body(operation: Operation, incoming: Incoming) -> Any:
    """The body as the operation's schema allows it, or the 415/400/422 saying why not."""
    if not operation.body_required and not incoming.body():
        # The spec lets the body be left out (requestBody.required: false): the
        # handler sees an empty object, held to the schema like any body.
        validate_body(operation, {})
        return {}
    if not _JSON_MEDIA_TYPE.match(incoming.media_type):
        sent = incoming.header("Content-Type")
        got = f"got {sent!r}" if sent else "none was sent"
        raise ApiError.single(415, detail=f"Content-Type must be application/json; {got}.")
    body = parse_json_body(incoming.body())
    validate_body(operation, body)
    if operation.body_properties is not None:
        # Fields the contract does not know are ignored, as by the backend.
        body = {name: value for name, value in body.items() if name in operation.body_properties}
    for name in operation.decimal_string_properties:
        if body.get(name) is not None:
            body[name] = str(int(body[name]))  # validated: an integer or ASCII digits
    return body


def handle(
    route: Route,
    context: Context,
    incoming: Incoming,
    path_params: dict[str, str],
    admit: Admission | None = None,
) -> Outgoing:
    """One matched, authenticated request through its admission (what of the
    caller's check needs the session: the management key's rate limit),
    validation and its handler."""
    operation = route.operation
    if admit is not None:
        admit(context)
    preferences = read_preferences(incoming.header("Prefer"), incoming.query)
    incoming.preferred_delay_ms = preferences.delay_ms
    if preferences.forces_response:
        # The spec's answer instead of the handler's: nothing is validated or changed.
        forced_status, forced_body, forced_headers = forced_response(
            operation, preferences, route.spec
        )
        outgoing = Outgoing.json(forced_body, forced_status)
        outgoing.headers.extend(forced_headers)
        outgoing.headers.append(("Preference-Applied", preferences.applied()))
        return outgoing
    query = parse_query(operation.query_parameters, incoming.query)
    try:
        body = read_json_body(operation, incoming) if operation.body_validator is not None else None
    except ApiError as refused:
        if route.plain_refusals:
            return plain_refusal(refused)
        raise
    call = Call(
        body=body,
        path_params=path_params,
        query=query,
        header=incoming.header,
        peer=incoming.environ.get("REMOTE_ADDR"),
    )
    try:
        result = route.handler(context, call)
    except RuleBroken as broken:
        raise ApiError.single(400, broken.message, field=f"/{broken.field}") from None
    if isinstance(result, Document):
        status = result.status or route.success_status
        outgoing = Outgoing(status, result.content, result.media_type)
    elif isinstance(result, Reply):
        outgoing = Outgoing.json(result.payload, result.status)
        outgoing.decision = result.decision
        outgoing.headers.extend(result.headers)
    else:
        outgoing = Outgoing.json(result, route.success_status)
    if preferences.delay_ms is not None:
        outgoing.headers.append(("Preference-Applied", preferences.applied()))
    return outgoing


# The words of the gateway's framework (axum's JSON extractor) for each refusal.
_PLAIN_REFUSALS = {
    415: "Expected request with `Content-Type: application/json`",
    400: "Failed to parse the request body as JSON",
    413: "Failed to buffer the request body: length limit exceeded",
    422: "Failed to deserialize the JSON body into the target type",
}


def plain_refusal(refused: ApiError) -> Outgoing:
    """A refused body as the gateway answers it: plain text, not the envelope
    (the problems found are named after the framework's words)."""
    text = _PLAIN_REFUSALS.get(refused.status, "Request failed")
    details = [problem.detail or problem.message for problem in refused.problems]
    if refused.status == 422:
        text += ": " + "; ".join(details)
    outgoing = Outgoing(refused.status, text.encode("utf-8"), "text/plain; charset=utf-8")
    return outgoing


# --- the journal ----------------------------------------------------------------------


def journal_entry(
    incoming: Incoming,
    outgoing: Outgoing,
    operation_id: str | None,
    at: str,
    duration_ms: float,
    session: str | None = None,
) -> dict[str, Any]:
    """What a request was and what it got, with secrets masked (``body`` as text)."""
    body = incoming.body_if_readable()
    return {
        "time": at,
        "session": session,
        "method": incoming.method,
        "path": incoming.path,
        # Secrets are found by name (http/secrets.py), in headers and query alike.
        "query": masked_query(incoming.query),
        "headers": masked_headers(incoming.headers()),
        "body": (
            masked_body(body[:JOURNAL_BODY_LIMIT].decode("utf-8", errors="replace"))
            if body
            else None
        ),
        "status": outgoing.status,
        "operation_id": operation_id,
        "errors": outgoing.errors,
        "duration_ms": round(duration_ms, 3),
        # What the handler decided, for the inspector's row (the gateway's check).
        "decision": outgoing.decision,
    }


@dataclass(frozen=True)
class Pages:
    """The pages for people, served by another WSGI app (Flask): which paths
    are theirs, which methods each answers, and which API calls are a page's
    own (the usage view's polling: answered as any call, but, like the pages,
    not journalled, logged or delayed). Handed in rather than imported so that
    the pipeline knows nothing of the tooling above it."""

    app: WsgiApp
    owns: Callable[[str], bool]
    methods: Callable[[str], list[str] | None]
    calls: Callable[[Incoming], bool]


class Pipeline:
    """The WSGI app: every operation of the served specs; the paths ``pages``
    owns go to its app."""

    def __init__(
        self,
        router: Router,
        contexts: SessionContexts,
        settings: Settings,
        cors: CorsPolicy,
        pages: Pages,
    ) -> None:
        self._router = router
        self._contexts = contexts
        self._context = contexts.default
        self._cors = cors
        self._tooling_cors = cors.for_tooling()
        self._hosts = HostPolicy(settings.allowed_hosts)
        self._pages = pages
        self._delay_ms = settings.delay_ms
        self._delays = random.Random(settings.seed)
        self._log = RequestLog(settings.log_format)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        # A PostgreSQL state's caches are read again once per request (database.py).
        self._context.store.database.new_request()
        incoming = Incoming(environ, MAX_BODY_BYTES)
        # The admin API and the pages are tooling, not the API: no latency,
        # no journal, no log, and no calls from other origins' pages.
        tooling = incoming.path.startswith(ADMIN_PREFIX) or self._pages.owns(incoming.path)
        cors = self._tooling_cors if tooling else self._cors
        route, outgoing = None, self._refusal(incoming, cors)
        if outgoing is None:
            if self._pages.owns(incoming.path) and incoming.method != "OPTIONS":
                return self._serve_page(incoming, start_response)
            route, outgoing = self._respond(incoming, cors, tooling)
        outgoing.headers += cors.headers_for(incoming)
        if not tooling and not self._pages.calls(incoming):
            self._delay(incoming)
            operation_id = route.operation.operation_id if route is not None else None
            self._record(incoming, outgoing, operation_id, started)
        return outgoing.send(start_response, incoming.method)

    def _refusal(self, incoming: Incoming, cors: CorsPolicy) -> Outgoing | None:
        """The 403 for a request refused before routing: a Host this server
        does not answer (DNS rebinding), or a foreign page calling the tooling."""
        try:
            self._hosts.check(incoming.header("Host"))
            cors.refuse_foreign(incoming)
        except ApiError as error:
            return Outgoing.error(error)
        return None

    def _serve_page(self, incoming: Incoming, start_response: StartResponse) -> Iterable[bytes]:
        """A page from Flask, with the tooling's CORS (a listed origin may
        fetch the spec); its preflights are answered like the API's."""
        cors_headers = self._tooling_cors.headers_for(incoming)

        def start_with_cors(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(status, [*headers, *cors_headers], *exc_info)

        return self._pages.app(incoming.environ, start_with_cors)

    def _respond(
        self, incoming: Incoming, cors: CorsPolicy, tooling: bool
    ) -> tuple[Route | None, Outgoing]:
        route = None
        try:
            if incoming.method == "OPTIONS":
                methods_for = (
                    self._pages.methods
                    if self._pages.owns(incoming.path)
                    else self._router.methods_for
                )
                return None, cors.preflight(incoming, methods_for(incoming.path))
            # Named before routing: a bad name is the 400 whatever the path.
            session = self._contexts.named(incoming.header(SESSION_HEADER))
            incoming.session = session
            route, path_params = self._router.match(incoming.method, incoming.path)
            # Before the session is made: a caller without a key makes none.
            admit = (
                None
                if route.operation.public
                else route.authenticate(
                    incoming.header("Authorization"), incoming.method, incoming.path
                )
            )
            context = self._contexts.context(session)
            try:
                return route, self._serve_in(context, tooling, route, incoming, path_params, admit)
            except SessionGone:
                if session is None:
                    raise
                # Dropped by another replica under this request, which went
                # with its tables: served once more, as after the drop.
                context = self._contexts.reopened(session, context)
                return route, self._serve_in(context, tooling, route, incoming, path_params, admit)
        except ApiError as error:
            return route, Outgoing.error(error)
        except Unavailable as gone:
            # Nothing of the request was committed (unless it says it may
            # have been); the next one reconnects.
            logger.warning("503: %s %s: %s", gone.what, gone.condition, gone)
            return route, Outgoing.error(
                unavailable(gone.what, gone.condition, maybe_done=gone.maybe_done)
            )
        except Exception:
            logger.exception(
                "unexpected error while serving %s %s",
                printable(incoming.method),
                printable(incoming.path),
            )
            return route, Outgoing.error(ApiError.single(500))

    def _serve_in(
        self,
        context: Context,
        tooling: bool,
        route: Route,
        incoming: Incoming,
        path_params: dict[str, str],
        admit: Admission | None,
    ) -> Outgoing:
        """The request handled in ``context`` (its session's)."""
        if context is not self._context:
            context.store.database.new_request()
        if tooling:  # a restore holds the gate: it must not wait for itself
            return handle(route, context, incoming, path_params, admit)
        with context.store.database.shared_gate():
            return handle(route, context, incoming, path_params, admit)

    def _delay(self, incoming: Incoming) -> None:
        delay_ms = incoming.preferred_delay_ms
        if delay_ms is None and self._delay_ms is not None:
            delay_ms = self._delays.randint(*self._delay_ms)
        if delay_ms:
            time.sleep(delay_ms / 1000)

    def _record(
        self, incoming: Incoming, outgoing: Outgoing, operation_id: str | None, started: float
    ) -> None:
        try:
            at = format_timestamp(self._context.clock.now())
            duration_ms = (time.perf_counter() - started) * 1000
            entry = journal_entry(
                incoming, outgoing, operation_id, at, duration_ms, incoming.session
            )
            self._context.journal.record(entry)
            self._log.write(entry)
        except Unavailable:  # said once already, by the answer's 503
            pass
        except Exception:  # the journal must never cost a client its answer
            logger.exception(
                "could not journal %s %s", printable(incoming.method), printable(incoming.path)
            )
