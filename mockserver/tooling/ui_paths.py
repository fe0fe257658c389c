"""Which paths belong to the pages for people (/docs, /__inspector).

Apart from the pages themselves so that a worker can route without
importing Flask: the pages are built on the first request for one
(serving/app.py), and most servers never serve one.
"""

DOCS_PREFIX = "/docs"
INSPECTOR_PREFIX = "/__inspector"
UI_PREFIXES = (DOCS_PREFIX, INSPECTOR_PREFIX)


def is_ui_path(path: str) -> bool:
    """Whether ``path`` belongs to these pages (and so is not an API call to journal)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in UI_PREFIXES)
