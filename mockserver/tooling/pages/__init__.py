"""Pages for people: interactive API docs (/docs), the request inspector
(/__inspector) and the usage view of the gateway's audit (/__usage).

Registered by the app factory; both read what the server already has (the
spec being served, the admin journal) and need nothing from the network:
Swagger UI's files come from the ``flask-swagger-ui`` package, our own from
``static/`` and ``templates/`` beside this file. No page loads anything from
another origin, and each is sent with a Content-Security-Policy that says so.

These pages are not part of the Wacht contract: every URL they use starts with
one of :data:`UI_PREFIXES` (see :func:`is_ui_path`), so that the journal can
leave them out.
"""

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import (
    Blueprint,
    Flask,
    Response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response as BaseResponse

from mockserver.backend.handlers import Context
from mockserver.config import Settings
from mockserver.contract.errors import ApiError
from mockserver.contract.jsontext import to_json
from mockserver.contract.spec import HTTP_METHODS, Spec
from mockserver.http.printable import printable
from mockserver.http.router import spec_methods
from mockserver.http.secrets import (
    DESCRIPTOR_WORDS,
    JOINED_SECRET_ENDINGS,
    NOT_SECRET_NAMES,
    SECRET_WORDS,
)
from mockserver.tooling.ui_paths import DOCS_PREFIX, INSPECTOR_PREFIX, USAGE_PREFIX
from mockserver.tooling.ui_paths import is_ui_path as is_ui_path  # where tests look for it

logger = logging.getLogger("mockserver")


_UI_DIR = Path(__file__).resolve().parent
_STATIC_DIR = _UI_DIR / "static"
# Swagger UI's own distribution, as the package ships it (its VERSION file names it).
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"

# Swagger UI styles its widgets inline and draws some icons as data: URIs;
# everything else, "Try it out" calls included, goes to this origin only.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'"
)
# The inspector and the usage view render request and audit data as text
# nodes; this policy is the second line of defence should that ever slip: no
# inline script can run, and nothing but this origin is loaded or called.
_OWN_FILES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'"
)


def docs_document(document: dict[str, Any], origin: str) -> dict[str, Any]:
    """The spec as the docs page shows it: every call goes to ``origin``.

    ``servers`` in openapi.yaml name the real API first; Swagger UI's "Try it
    out" would send a frontend developer's test data there. Servers given on
    a path or an operation are dropped for the same reason.
    """
    shown = copy.deepcopy(document)
    shown["servers"] = [{"url": origin, "description": "this mockserver"}]
    for path_item in shown.get("paths", {}).values():
        if not isinstance(path_item, dict):
            continue
        path_item.pop("servers", None)
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if isinstance(operation, dict):
                operation.pop("servers", None)
    return shown


def bearer_schemes(document: dict[str, Any]) -> list[str]:
    """Names of the spec's HTTP bearer security schemes (``bearerAuth`` in openapi.yaml).

    The docs page fills the dev key into each, so that "Execute" works at once.
    """
    schemes = document.get("components", {}).get("securitySchemes", {})
    return [
        name
        for name, scheme in schemes.items()
        if isinstance(scheme, dict)
        and scheme.get("type") == "http"
        and str(scheme.get("scheme", "")).lower() == "bearer"
    ]


def _json_default(value: Any) -> str:
    """YAML may hold dates and timestamps (unquoted examples); JSON has only strings."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _page(html: str, policy: str) -> Response:
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _asset(directory: Path, filename: str) -> Response:
    response = send_from_directory(directory, filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _page_blueprint(name: str, prefix: str, render: Callable[[], Response]) -> Blueprint:
    """A page at ``prefix``, our static files below it, and ``prefix/`` redirected."""
    blueprint = Blueprint(name, __name__, template_folder="templates")
    blueprint.add_url_rule(prefix, "page", render, methods=["GET"])

    @blueprint.get(f"{prefix}/static/<path:filename>")
    def asset(filename: str) -> Response:
        return _asset(_STATIC_DIR, filename)

    @blueprint.get(f"{prefix}/")
    def with_slash() -> BaseResponse:
        return redirect(url_for(".page"))

    return blueprint


def _docs_blueprint(spec: Spec, context: Context) -> Blueprint:
    title = str(spec.document.get("info", {}).get("title", "API"))
    schemes = bearer_schemes(spec.document)

    def page() -> Response:
        html = render_template(
            "docs.html",
            title=title,
            spec_url=url_for(".document"),
            dev_key=context.fixtures.default_key,
            bearer_schemes=schemes,
        )
        return _page(html, _DOCS_CSP)

    docs = _page_blueprint("mockserver_docs", DOCS_PREFIX, page)

    @docs.get(f"{DOCS_PREFIX}/openapi.json")
    def document() -> Response:
        origin = request.host_url.rstrip("/")
        text = json.dumps(docs_document(spec.document, origin), default=_json_default)
        return Response(text, mimetype="application/json", headers={"Cache-Control": "no-store"})

    @docs.get(f"{DOCS_PREFIX}/swagger-ui/<path:filename>")
    def swagger_asset(filename: str) -> Response:
        return _asset(SWAGGER_UI_DIR, filename)

    return docs


def _inspector_blueprint() -> Blueprint:
    def page() -> Response:
        # The page masks again what the journal masked, by the same words.
        words = {
            "secret_words": " ".join(sorted(SECRET_WORDS)),
            "descriptor_words": " ".join(sorted(DESCRIPTOR_WORDS)),
            "joined_endings": " ".join(JOINED_SECRET_ENDINGS),
            "not_secret_names": " ".join(sorted(NOT_SECRET_NAMES)),
        }
        return _page(render_template("inspector.html", **words), _OWN_FILES_CSP)

    return _page_blueprint("mockserver_inspector", INSPECTOR_PREFIX, page)


def _usage_blueprint(context: Context) -> Blueprint:
    """The usage view reads the Wacht API's own audit endpoints, as a console
    would, with the dev key the docs page uses: same origin, same policy as
    the inspector (it draws its chart itself, as SVG, so nothing else loads)."""

    def page() -> Response:
        html = render_template("usage.html", dev_key=context.fixtures.default_key)
        return _page(html, _OWN_FILES_CSP)

    return _page_blueprint("mockserver_usage", USAGE_PREFIX, page)


def register_ui(app: Flask, spec: Spec, context: Context, settings: Settings) -> None:
    """Add the browser pages to ``app``.

    The inspector is served even with ``--no-admin``: it then says that the
    admin API is off, which helps more than a bare 404.
    """
    app.register_blueprint(_docs_blueprint(spec, context))
    app.register_blueprint(_inspector_blueprint())
    app.register_blueprint(_usage_blueprint(context))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _envelope(error: ApiError) -> Response:
    return Response(to_json(error.envelope()), status=error.status, mimetype="application/json")


def _http_error(error: HTTPException) -> Response:
    """Flask's own errors on these pages (404, 405, ...) leave in the envelope too."""
    status = error.code or 500
    response = _envelope(ApiError.single(status))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(spec_methods(error.valid_methods))
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception(
        "unexpected error while serving %s %s", printable(request.method), printable(request.path)
    )
    return _envelope(ApiError.single(500))
