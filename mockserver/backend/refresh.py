"""``--watch``: an edited scheme or demo app in the fixtures, put into the state at once.

A reload builds the app anew, but the state is kept, so an edited fixture
would only show after a reset. Here each scheme and demo app whose fixture
changed is compared with the state: if the state still holds it as the old
fixtures had it, nobody changed it, and the new version replaces it (a
fixture added is added, one removed is removed). If it was changed through
the API since (the state differs from the old fixture), the API's version
wins and is kept, and the log says so: an edit a developer made with a
client is never lost to an edit of a file.

Several worker processes each reload and each run this: the first to do so
changes the state, the others find the state already as the new fixtures
have it and say nothing. Each change is one transaction of the store, whose
check runs inside it.
"""

from collections.abc import Callable
from typing import Any

from mockserver.backend.fixtures import Fixtures
from mockserver.backend.handlers import Context
from mockserver.state.store import SchemeInUse, SlugTaken, Store

Record = dict[str, Any]
_API_WINS = "the API's change wins; POST /__admin/reset loads the file's"


class _Kept(Exception):
    """The state's version differs from both the old and the new fixture."""


def _schemes(fixtures: Fixtures) -> dict[str, Record]:
    return {slug: scheme.record() for slug, scheme in fixtures.schemes.items()}


def _apps(fixtures: Fixtures) -> dict[str, Record]:
    return {app["app_slug"]: app for app in fixtures.apps}


def apply_fixture_edits(old: Fixtures, new: Fixtures, context: Context, now: str) -> list[str]:
    """Put the schemes and apps edited between ``old`` and ``new`` into the
    context's store, as the module docstring says; what happened, one line each."""
    store = context.store
    said: list[str] = []
    for kind, before, after, get, change, add, remove in (
        (
            "scheme",
            _schemes(old),
            _schemes(new),
            store.get_scheme,
            store.update_scheme,
            store.insert_scheme,
            lambda slug, _record: store.delete_scheme(slug),
        ),
        (
            "app",
            _apps(old),
            _apps(new),
            store.get_app,
            store.update_app,
            store.insert_app,
            lambda slug, _record: _delete_app(store, slug, now),
        ),
    ):
        for slug in sorted(before.keys() | after.keys()):
            if before.get(slug) != after.get(slug):
                line = _apply(
                    f"{kind} {slug!r}", before.get(slug), after.get(slug), get, change, add, remove
                )
                if line:
                    said.append(line)
    return said


def _apply(
    what: str,
    old: Record | None,
    new: Record | None,
    get: Callable[[str], Record | None],
    change: Callable[[str, Callable[[Record], Record]], Record | None],
    add: Callable[[Record], None],
    remove: Callable[[str, Record], bool],
) -> str | None:
    slug = (new or old or {}).get("slug") or (new or old or {}).get("app_slug") or ""
    current = get(slug)
    if current == new:
        return None  # as the new fixtures have it (another worker got here first)
    if current != old:
        return f"kept {what} as changed through the API since it was loaded ({_API_WINS})"
    if new is None:
        try:
            remove(slug, current or {})
        except SchemeInUse:
            return f"kept {what}, removed from the fixtures: a live app still names it"
        return f"removed {what}, as the fixtures no longer have it"
    if current is None:
        try:
            add(new)
        except SlugTaken:
            return None  # added meanwhile by another worker
        return f"added {what} from the fixtures"

    def replace(stored: Record) -> Record:
        if stored != old:  # changed since it was read: by the API, or by another worker
            raise _Kept
        return new

    try:
        change(slug, replace)
    except _Kept:
        if get(slug) == new:
            return None
        return f"kept {what} as changed through the API since it was loaded ({_API_WINS})"
    return f"updated {what} from the fixtures"


def _delete_app(store: Store, slug: str, now: str) -> bool:
    return store.update_app(slug, lambda app: {**app, "deleted_at": now}) is not None
