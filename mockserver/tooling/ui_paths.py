"""Which paths belong to the pages for people (/docs, /__inspector, /__usage),
and which API calls are a page's own.

Apart from the pages themselves so that a worker can route without
importing Flask: the pages are built on the first request for one
(serving/app.py), and most servers never serve one.
"""

from mockserver.http.exchange import Incoming

DOCS_PREFIX = "/docs"
INSPECTOR_PREFIX = "/__inspector"
USAGE_PREFIX = "/__usage"
UI_PREFIXES = (DOCS_PREFIX, INSPECTOR_PREFIX, USAGE_PREFIX)
# The usage view polls the audit endpoints every 2 s. Those reads are API
# calls like any other, but the page's, not the developer's: marked with this
# header (static/usage.js), they are left out of the journal, the log and
# --delay, as the pages are, so that the inspector beside it keeps showing
# the developer's own calls.
PAGE_CALL_HEADER = "X-Mockserver-Page"


def is_ui_path(path: str) -> bool:
    """Whether ``path`` belongs to these pages (and so is not an API call to journal)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in UI_PREFIXES)


def is_page_call(incoming: Incoming) -> bool:
    """Whether an API call is the usage view's own (see :data:`PAGE_CALL_HEADER`)."""
    return incoming.header(PAGE_CALL_HEADER) == "usage"
