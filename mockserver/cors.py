"""CORS, so that a frontend on another port can call the server from a browser.

By default any origin may; ``--cors-origin`` (repeatable) restricts it, and a
refused origin gets no CORS headers at all (the browser then blocks the
call, as a misconfigured real API would). Preflights are answered here, with
the methods the spec has for the path; actual responses, errors included,
carry the allow-origin header.
"""

from collections.abc import Callable

from flask import Flask, Response, request

from mockserver.errors import ApiError

DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Prefer"
# Readable by the page's script beyond the CORS-safelisted response headers.
EXPOSED_HEADERS = "Allow, Content-Length, Preference-Applied, Retry-After"
PREFLIGHT_MAX_AGE = "600"


class CorsPolicy:
    def __init__(self, origins: frozenset[str] | None = None) -> None:
        self.origins = origins  # None means any origin

    def allows(self, origin: str | None) -> bool:
        return origin is not None and (self.origins is None or origin in self.origins)


def install_cors(
    app: Flask, policy: CorsPolicy, methods_for: Callable[[str], list[str] | None]
) -> None:
    """Answer OPTIONS requests and add CORS headers to every response of ``app``.

    ``methods_for(path)`` gives the spec's methods for a path, None if unknown.
    """

    @app.before_request
    def answer_options() -> Response | None:
        if request.method != "OPTIONS":
            return None
        methods = methods_for(request.path)
        if methods is None:
            raise ApiError.single(404)
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body, so no type
        response.headers["Allow"] = ", ".join(methods)
        origin = request.headers.get("Origin")
        if request.headers.get("Access-Control-Request-Method") and policy.allows(origin):
            requested = request.headers.get("Access-Control-Request-Headers")
            response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            response.headers["Access-Control-Allow-Headers"] = requested or DEFAULT_ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response

    @app.after_request
    def allow_origin(response: Response) -> Response:
        origin = request.headers.get("Origin")
        response.vary.add("Origin")
        if policy.allows(origin):
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
