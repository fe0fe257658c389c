"""Where the bundled contract and default fixtures are found.

An installed wheel carries ``openapi.yaml`` and ``fixtures/`` inside the package
(see ``force-include`` in pyproject.toml). A source checkout, editable install
included, has them one level up, at the top of the repository, where people
edit them. Looking in the package first keeps an installed copy independent of
whatever directory it is started from.
"""

from pathlib import Path

# mockserver/, two levels up from mockserver/contract/resources.py.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def bundled(name: str) -> Path:
    """Return the path of a bundled resource (``openapi.yaml`` or ``fixtures``)."""
    inside = _PACKAGE_DIR / name
    if inside.exists():
        return inside
    return _PACKAGE_DIR.parent / name


def default_spec_path() -> Path:
    return bundled("openapi.yaml")


def default_fixtures_dir() -> Path:
    return bundled("fixtures")


def gateway_spec_path() -> Path:
    """The gateway's own OpenAPI document, shipped inside the package (never
    mixed into openapi.yaml: the gateway is another service)."""
    return Path(__file__).resolve().parent / "gateway_openapi.yaml"
