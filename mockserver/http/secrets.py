"""What counts as a secret in a request, and how it is masked in the journal.

No secret is ever recorded (the guide, principle 3). A header or query
parameter is taken for a secret by its name: split into its words
(``api_key``, ``X-Api-Key``, ``apiKey``, ``access-token``), any word that
names a credential makes it one, whatever the case. Matching words, not
substrings, keeps ``monkey`` and ``keyword`` readable. One predicate serves
headers, query parameters and whatever else comes to need it.
"""

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mockserver.contract.jsontext import to_json
from mockserver.state.sessions import SESSION_HEADER

# Words that, anywhere in a name, say its value is a credential.
SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "jwt",
        "key",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "secret",
        "session",
        "signature",
        "sig",
        "token",
    }
)
# A last word that names something about a secret rather than the secret:
# ``key_prefix``, ``key_id``, ``key_name`` and ``token_type`` are readable.
DESCRIPTOR_WORDS = frozenset({"id", "ids", "name", "prefix", "slug", "type"})
# Names with a secret word that carry none, by exact name (any case): the
# session header names a test's session, which the journal and the
# inspector show and filter by ("session" stays a secret word: a session
# cookie or session token is a credential).
NOT_SECRET_NAMES = frozenset({SESSION_HEADER.lower()})
# Secret words that may be written as one with another ("authtoken").
JOINED_SECRET_ENDINGS = ("apikey", "token", "secret", "password")
MASK = "••••"
# Word boundaries: anything not a letter or digit, and a lower-to-upper case change.
_SEPARATOR = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def name_words(name: str) -> list[str]:
    """``X-Api-Key`` -> ``['x', 'api', 'key']``; ``accessToken`` -> ``['access', 'token']``."""
    return [word.lower() for word in _SEPARATOR.split(name) if word]


# Every journalled request asks of each header and body field name: the same
# few names again and again (a gateway check asked nine times, 55 of its 450
# us in process). Bounded, as a client may send names without end.
@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a header or parameter called ``name`` carries a credential."""
    if name.lower() in NOT_SECRET_NAMES:
        return False
    words = name_words(name)
    if words and words[-1] in DESCRIPTOR_WORDS:
        return False
    # "apikey", "authtoken", "clientsecret": a secret word written as one with another.
    joined = "".join(words)
    return any(word in SECRET_WORDS for word in words) or any(
        joined.endswith(word) for word in JOINED_SECRET_ENDINGS
    )


def mask_secret(value: str, *, keep_scheme: bool = True) -> str:
    """``Bearer sk_test_mock`` becomes ``Bearer ••••mock``: recognisable, not
    usable. Only a long secret keeps its last four characters; the scheme
    before a space is kept for headers (``keep_scheme``), not for a query value."""
    if keep_scheme and " " in value:
        scheme, _, secret = value.partition(" ")
    else:
        scheme, secret = "", value
    hidden = MASK + (secret[-4:] if len(secret) > 8 else "")
    return f"{scheme} {hidden}" if scheme else hidden


def masked_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers with the value of every secret one masked, its scheme kept."""
    return {name: mask_secret(value) if is_secret_name(name) else value for name, value in headers}


def masked_query(query: Mapping[str, str]) -> dict[str, str]:
    """Query parameters with the value of every secret one masked."""
    return {
        name: mask_secret(value, keep_scheme=False) if is_secret_name(name) else value
        for name, value in query.items()
    }


# An API key as the backend makes them ({prefix}_ and 43 characters of URL-safe
# base64): masked wherever it appears in a body that is not JSON.
_KEY_SHAPED = re.compile(r"[A-Za-z0-9]+_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
# Objects whose ``value`` is a credential (the gateway's principal).
_CREDENTIAL_HOLDERS = frozenset({"principal"})


def _masked_value(value: Any) -> Any:
    return mask_secret(value, keep_scheme=False) if isinstance(value, str) else MASK


def _masked_json(value: Any, holder: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            name: (
                _masked_value(item)
                if is_secret_name(name) or (holder and name == "value")
                else _masked_json(item, name in _CREDENTIAL_HOLDERS)
            )
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [_masked_json(item) for item in value]
    return value


def _mask_key_shaped(text: str) -> str:
    return _KEY_SHAPED.sub(lambda found: mask_secret(found.group(0)), text)


def masked_body(text: str) -> str:
    """A request body with its secrets masked: in JSON, every value named as a
    secret (``secret``, ``api_key``...) and a principal's ``value``; in
    anything else (or JSON that does not parse), whatever looks like a key.
    JSON with a secret masked is written again, compactly (orjson: 0.3 us
    for a gateway check's body where the standard library took 6)."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return _mask_key_shaped(text)
    masked = _masked_json(parsed)
    if masked == parsed:
        return _mask_key_shaped(text)
    return _mask_key_shaped(to_json(masked).decode("utf-8"))
