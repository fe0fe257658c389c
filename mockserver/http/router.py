"""The router: which operation of which spec a method and path ask for.

Every operation of a served spec (the Wacht contract, the admin API) becomes
a Werkzeug routing rule, the same router Flask uses, bound to its handler by
operationId. An unknown path is a 404 and a known path with another method
a 405 naming the methods the spec has there.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, MapAdapter, Rule

from mockserver.backend.handlers import Context, Handler
from mockserver.contract.errors import ApiError
from mockserver.contract.spec import Operation, Spec, SpecError

# What remains of a caller's check once its session is known: raises
# ApiError(429) when the management key is over its limit in that session.
Admission = Callable[[Context], None]
# Raises ApiError(401 or 403) unless the Authorization header (None if absent)
# may call the method and path (the second and third arguments); run before
# the request's session is made (a caller without a key makes none), so what
# needs the session is given back as the Admission (None: nothing left to check).
Authenticator = Callable[[str | None, str, str], Admission | None]

_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")


def werkzeug_rule(openapi_path: str) -> str:
    """``/apps/{app_slug}`` (OpenAPI) becomes ``/apps/<path:app_slug>`` (Werkzeug).

    A parameter that ends the path takes the ``path`` converter, so that a
    slug with an encoded slash (``a%2Fb``, which the server decodes before
    routing) still reaches its handler.
    """
    rule = _PATH_PARAMETER.sub(r"<\1>", openapi_path)
    return re.sub(r"<([^>:]+)>$", r"<path:\1>", rule)


def spec_methods(methods: Iterable[str]) -> list[str]:
    """The methods a spec documents among those Werkzeug routes (it adds HEAD
    to every GET), in a stable order."""
    return sorted(method for method in methods if method not in ("HEAD", "OPTIONS"))


def success_status(operation: Operation) -> int:
    return min((s for s in operation.documented_statuses if 200 <= s < 300), default=200)


@dataclass(frozen=True)
class Route:
    operation: Operation
    handler: Handler
    spec: Spec
    authenticate: Authenticator
    success_status: int
    # Refusals of the body (415, 400, 422) in plain text, as the gateway's
    # framework sends them, instead of the error envelope.
    plain_refusals: bool = False


class Router:
    def __init__(self) -> None:
        # No slash merging: it would answer '//api-auth/apps' with a redirect.
        self._map = Map(merge_slashes=False)
        self._routes: dict[str, Route] = {}
        self._adapter: MapAdapter | None = None

    def add(
        self,
        spec: Spec,
        handlers: dict[str, Handler],
        authenticate: Authenticator,
        *,
        prefix: str = "",
        plain_refusals: bool = False,
    ) -> None:
        """One route per operation of ``spec``; each needs a handler. ``prefix``
        is put before every path of the spec (the gateway's are under /gateway)."""
        for operation in spec.operations:
            handler = handlers.get(operation.operation_id)
            if handler is None:
                raise SpecError(
                    f"{spec.source}: no handler for operationId {operation.operation_id!r}"
                )
            self._routes[operation.operation_id] = Route(
                operation, handler, spec, authenticate, success_status(operation), plain_refusals
            )
            self._map.add(
                Rule(
                    werkzeug_rule(prefix + operation.path),
                    endpoint=operation.operation_id,
                    methods=[operation.method],
                )
            )
        self._adapter = self._map.bind("localhost")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters; ApiError 404 or 405 if there is none."""
        assert self._adapter is not None, "no spec added"
        try:
            endpoint, path_params = self._adapter.match(path, method)
        except MethodNotAllowed as refused:
            allowed = ", ".join(spec_methods(refused.valid_methods or ()))
            raise ApiError(405, headers={"Allow": allowed}) from None
        except HTTPException:
            raise ApiError.single(404) from None
        if any("/" in value for value in path_params.values()):
            # A slug that swallowed a slash (the path converter) must not win
            # over an operation whose own path this is, such as
            # .../{app_slug}/audit/logs: there, other methods are a 405.
            specific = self._specific_methods(path)
            if specific:
                raise ApiError(405, headers={"Allow": ", ".join(specific)})
        return self._routes[str(endpoint)], path_params

    def _specific_methods(self, path: str) -> list[str]:
        """The methods of operations that match ``path`` with no slash in a parameter."""
        assert self._adapter is not None
        methods = []
        for method in self._adapter.allowed_methods(path):
            try:
                _, params = self._adapter.match(path, method)
            except HTTPException:
                continue
            if not any("/" in value for value in params.values()):
                methods.append(method)
        return spec_methods(methods)

    def methods_for(self, path: str) -> list[str] | None:
        """The spec's methods for a path; None for a path no spec has."""
        assert self._adapter is not None, "no spec added"
        return (
            self._specific_methods(path)
            or spec_methods(self._adapter.allowed_methods(path))
            or None
        )
