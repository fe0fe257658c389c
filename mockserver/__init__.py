"""mockserver: a contract-faithful stand-in for the Wacht API-auth endpoints.

The contract is ``openapi.yaml``; :func:`create_app` builds a Flask app that
serves it, validating every request against it and answering from fixtures.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from mockserver.config import Settings

if TYPE_CHECKING:
    from mockserver.serving.app import create_app


def __getattr__(name: str) -> Any:
    """``create_app`` is imported on first use: it brings Flask and the
    validators, which the ``serve`` supervisor does not need (PEP 562)."""
    if name == "create_app":
        from mockserver.serving.app import create_app

        return create_app
    raise AttributeError(f"module 'mockserver' has no attribute {name!r}")


__all__ = ["Settings", "__version__", "create_app"]
