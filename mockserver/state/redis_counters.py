"""Rate-limit counters in Redis (``mockserver serve --redis redis://HOST:PORT/N``).

For servers that share one state from several machines: Redis is where
their counters meet. A check's counters are read and bumped by one Lua
script, which Redis runs whole before any other command, so a rule of L per
window admits exactly L however many workers and servers check at once.

Keys, all of one state's (or session's) under one hash tag, so that a
script's keys share a cluster slot:

- ``mockserver:{NS}:gen``: the generation, a number a reset or a restored
  snapshot moves on, at once for every server;
- ``mockserver:{NS}:probe``: written by the health check, gone a second later;
- ``mockserver:{NS}:g<gen>:<counter name>``: a hash of ``w`` (the start of
  the counter's window, ms) and ``n`` (the count in it), which expires its
  window's length plus a minute after its last count, so never before its
  window has ended (Redis knows only the wall clock: a frozen or moved one
  may keep a window open longer, and the minute covers a test's moves).

``NS`` is the state's namespace, a random number drawn once per state
(counters.namespace_of), and for a session the name of its SQLite file or
PostgreSQL schema, which names the session's incarnation too. Keys of an
earlier generation are never read again and expire by themselves.

A script is never sent twice. A connection Redis closed while it was idle
(a restart, its ``timeout``) is seen before the script goes (one poll of
its socket) and made again; one that fails while the script is being sent
is made again and the script sent once more (Redis runs whole commands
only); one lost after the script was sent, before its answer came, is a
503 that says the check may have been counted (a script sent again would
count it twice).

The check's audit row is written after the script, in the state's database:
when that write fails, a second script takes the counted requests back, so
that nothing stays counted. When Redis cannot be reached, the script has
not run: CountersUnavailable, and nothing was counted.
"""

import os
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mockserver.state.counters import (
    CounterRow,
    CountersUnavailable,
    Outcome,
    StateWithCounters,
    Tally,
    Then,
    record_or_give_back,
)
from mockserver.state.database import Database, spoken_to

if TYPE_CHECKING:
    import redis

REDIS = "Redis"
# What a 503 says of a Redis that refuses writes for want of memory.
OUT_OF_MEMORY = "is out of memory (its maxmemory)"
# How much longer than its window a counter is kept (see the module's note).
GRACE_MS = 60_000
# A restored counter's life: the longest window (a calendar month of 31 days), and the grace.
RESTORED_TTL_MS = 31 * 86_400_000 + GRACE_MS
# How long the health probe's key lives (unreachable_because).
PROBE_TTL_MS = 1_000
# A Redis that does not answer within these is taken as gone (a 503 at once,
# not a request that hangs).
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 2.0

# KEYS[1]: the generation's key. ARGV[1]: the prefix of the counters' keys
# (before the generation), then per tally: name, window start, limit, ttl ms.
# Returns the generation, then per tally 1 (admitted) or 0, and the count.
_TAKE = """
local gen = redis.call('GET', KEYS[1]) or '0'
local prefix = ARGV[1] .. gen .. ':'
local out = {gen}
for i = 2, #ARGV, 4 do
  local key = prefix .. ARGV[i]
  local start = ARGV[i + 1]
  local stored = redis.call('HMGET', key, 'w', 'n')
  local count = 0
  if stored[1] == start then count = tonumber(stored[2]) end
  if count >= tonumber(ARGV[i + 2]) then
    table.insert(out, 0)
    table.insert(out, count)
  else
    redis.call('HSET', key, 'w', start, 'n', count + 1)
    redis.call('PEXPIRE', key, ARGV[i + 3])
    table.insert(out, 1)
    table.insert(out, count + 1)
  end
end
return out
"""
# Takes back what _TAKE counted (the audit row could not be written).
# KEYS[1]: the generation's key. ARGV[1]: the prefix, ARGV[2]: the generation
# _TAKE counted in, then per admitted tally: name, window start.
_UNDO = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[2] then return 0 end
local prefix = ARGV[1] .. ARGV[2] .. ':'
for i = 3, #ARGV, 2 do
  local key = prefix .. ARGV[i]
  local stored = redis.call('HMGET', key, 'w', 'n')
  if stored[1] == ARGV[i + 1] and tonumber(stored[2]) > 0 then
    redis.call('HINCRBY', key, 'n', -1)
  end
end
return 1
"""
# Every counter becomes one of ARGV's (a snapshot put back), in a new generation.
# KEYS[1]: the generation's key. ARGV[1]: the prefix, ARGV[2]: their ttl ms,
# then per row: name, window start, count.
_REPLACE = """
local gen = redis.call('INCR', KEYS[1])
local prefix = ARGV[1] .. gen .. ':'
for i = 3, #ARGV, 3 do
  local key = prefix .. ARGV[i]
  redis.call('HSET', key, 'w', ARGV[i + 1], 'n', ARGV[i + 2])
  redis.call('PEXPIRE', key, ARGV[2])
end
return gen
"""


class RedisUrlError(ValueError):
    """Not a URL of a Redis database (``redis://HOST:PORT/N``)."""


def check_url(text: str) -> str:
    """``text`` if it names a Redis database: ``redis://`` or ``rediss://``
    (TLS), a host, an optional port and password, an optional database
    number; RedisUrlError saying what is wrong otherwise."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise RedisUrlError(f"not a Redis URL: {error}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise RedisUrlError(f"{text!r} is no Redis URL: write redis://HOST:PORT/N")
    if not parts.hostname:
        raise RedisUrlError(f"{text!r} names no host: write redis://HOST:PORT/N")
    if port == 0:
        raise RedisUrlError(f"{text!r}: the port must be from 1 to 65535")
    database = parts.path.strip("/")
    if database and not (database.isascii() and database.isdigit()):
        raise RedisUrlError(f"{text!r}: the database must be a number, as in redis://HOST:PORT/0")
    if parts.query or parts.fragment:
        raise RedisUrlError(f"{text!r}: write redis://HOST:PORT/N, without ? or #")
    return text


def connect(url: str) -> "redis.Redis":
    """A client of the Redis at ``url`` (connections are made on first use).

    One immediate retry on a broken connection: after Redis restarted, each
    pooled connection fails once before the pool makes a new one, and that
    first request must not be the client's 503. Timeouts are not retried:
    the script may have run.
    """
    check_url(url)  # Settings made in code meet the option's checks too
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise RedisUrlError("--redis needs redis-py: pip install 'mockserver[replicas]'") from None
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )


class AnswerLost(Exception):
    """The connection to Redis was lost after a script was sent and before
    its answer came: Redis may have run it."""


class _Link:
    """This thread's own connection to the counters' Redis, for the scripts
    of checks, sent and answered on it by redis-py's Connection itself.
    Through the client (its pool, its retry, its Script object) a check's
    script took 75 to 80 us of this process's CPU, this way 28 (scratch
    runs of 5,000 on the quiet 2-core machine). Whatever else the counters
    ask of Redis (a reset, a snapshot) goes through the client.

    A script is never sent twice (see the module's note), and a script Redis
    no longer knows (it restarted) is loaded again."""

    def __init__(self, client: "redis.Redis") -> None:
        import redis

        self._pool = client.connection_pool
        self._broken = redis.ConnectionError
        # What leaves a sent script's fate unknown (not an answer such as
        # an error of Redis's, which says it did not run).
        self._lost = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._loading = redis.exceptions.BusyLoadingError  # a ConnectionError, yet an answer
        self._unknown_script = redis.exceptions.NoScriptError
        self._local = threading.local()

    def run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """The script's answer; AnswerLost when it was sent and no answer came."""
        connection = self._connection()
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        self._send(connection, command)
        try:
            return self._answer(connection)
        except self._unknown_script:  # Redis restarted and forgot it: it did not run
            pass
        self._send(connection, ("SCRIPT", "LOAD", script.script))
        connection.read_response()  # lost here, nothing has run: an error as any
        self._send(connection, command)
        return self._answer(connection)

    def _answer(self, connection: Any) -> Any:
        """A sent script's answer; AnswerLost when none came."""
        try:
            return connection.read_response()
        except self._loading:  # an answer: Redis is loading its data, it ran nothing
            raise
        except self._lost as lost:
            connection.disconnect()  # connected again by the next command
            raise AnswerLost(str(lost) or type(lost).__name__) from lost

    def _connection(self) -> Any:
        """This thread's connection, made again first when Redis has spoken
        to it since its last answer: on an idle connection, that is Redis
        closing it (a restart, its ``timeout``)."""
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or local.pid != os.getpid():  # a forked child opens its own
            connection = local.connection = self._pool.make_connection()
            local.pid = os.getpid()
        elif connection._sock is not None and spoken_to(connection._sock):
            connection.disconnect()
        return connection

    def _send(self, connection: Any, command: tuple[Any, ...]) -> None:
        """Send ``command``, on a connection made again when sending fails:
        Redis runs whole commands only, so nothing of it ran."""
        try:
            connection.send_command(*command)
        except self._broken:
            connection.disconnect()
            connection.send_command(*command)


class RedisCounters:
    """A state's (or a session's) counters in Redis."""

    in_state = False

    def __init__(
        self,
        client: "redis.Redis",
        namespace: str,
        database: Database,
        link: _Link | None = None,
    ) -> None:
        """``namespace`` names the state or session; ``database`` is the
        state's, where the check's audit row is written; ``link``, the
        connections of the server's counters, which its sessions share."""
        import redis

        self._client = client
        self._link = link or _Link(client)
        self._errors = (redis.RedisError, OSError)
        self._out_of_memory = redis.exceptions.OutOfMemoryError
        self._namespace = namespace
        self._database = database
        self._generation_key = f"mockserver:{{{namespace}}}:gen"
        self._prefix = f"mockserver:{{{namespace}}}:g"
        self._probe_key = f"mockserver:{{{namespace}}}:probe"
        self._take = client.register_script(_TAKE)
        self._undo = client.register_script(_UNDO)
        self._replace = client.register_script(_REPLACE)

    def for_session(self, key: str, store: StateWithCounters) -> "RedisCounters":
        """The counters of a session, named by ``key`` (its incarnation's), on
        the same Redis connections; its audit rows go to its own database."""
        return RedisCounters(self._client, f"{self._namespace}/{key}", store.database, self._link)

    def _gone(self, error: BaseException) -> CountersUnavailable:
        """The 503's exception for a failed command: Redis cannot be reached,
        or it answered that it is out of memory (its ``maxmemory`` reached
        under the ``noeviction`` policy), which no reconnecting cures."""
        if isinstance(error, self._out_of_memory):
            return CountersUnavailable(REDIS, str(error), condition=OUT_OF_MEMORY)
        return CountersUnavailable(REDIS)

    def _call(self, script: Any, args: list[Any]) -> Any:
        try:
            return self._link.run(script, [self._generation_key], args)
        except AnswerLost as lost:
            raise CountersUnavailable(REDIS, str(lost), maybe_done=True) from None
        except self._errors as error:
            raise self._gone(error) from None

    def take(self, tallies: list[Tally], then: Then | None = None) -> list[Outcome]:
        """See CounterStore.take. The counts are one script's; ``then`` runs
        after it, and when ``then`` fails the counts are taken back."""
        args: list[Any] = [self._prefix]
        for tally in tallies:
            args += [tally.name, tally.window_start, tally.limit, tally.window_ms + GRACE_MS]
        reply = self._call(self._take, args)
        generation = reply[0]
        outcomes = [Outcome(bool(reply[i]), int(reply[i + 1])) for i in range(1, len(reply), 2)]
        if then is not None:

            def give_back() -> None:
                self._give_back(tallies, outcomes, generation)

            record_or_give_back(self._database, then, outcomes, give_back)
        return outcomes

    def _give_back(self, tallies: list[Tally], outcomes: list[Outcome], generation: Any) -> None:
        """Uncount what ``take`` counted in ``generation`` (its ``then`` failed)."""
        counted: list[Any] = [self._prefix, generation]
        for tally, outcome in zip(tallies, outcomes, strict=True):
            if outcome.admitted:
                counted += [tally.name, tally.window_start]
        self._call(self._undo, counted)

    def clear(self) -> None:
        try:
            self._client.incr(self._generation_key)
        except self._errors as error:
            raise self._gone(error) from None

    def rows(self) -> list[CounterRow]:
        """Every counter of the current generation (read key by key: a check
        counted meanwhile may or may not be in it, as with any save under load)."""
        try:
            generation = (self._client.get(self._generation_key) or b"0").decode()
            prefix = f"{self._prefix}{generation}:"
            keys = list(self._client.scan_iter(match=_glob_escape(prefix) + "*", count=1000))
            with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, "w", "n")
                values = pipe.execute()
        except self._errors as error:
            raise self._gone(error) from None
        rows = [
            CounterRow(key.decode()[len(prefix) :], int(start), int(count))
            for key, (start, count) in zip(keys, values, strict=True)
            if start is not None and count is not None  # expired meanwhile
        ]
        return sorted(rows, key=lambda row: row.name)

    def replace(self, rows: list[CounterRow]) -> None:
        args: list[Any] = [self._prefix, RESTORED_TTL_MS]
        for row in rows:
            args += [row.name, row.window_start, row.count]
        self._call(self._replace, args)

    def missing(self) -> list[str]:
        return [] if self.unreachable_because() is None else [REDIS]

    def unreachable_because(self) -> str | None:
        """Why Redis cannot count now (None: it can), in redis-py's words.
        Asked with a write of a key that expires at once, not a PING: a Redis
        past its maxmemory answers PING but refuses the counting script, so
        a probe that pinged called ready a server whose every check was a 503."""
        try:
            self._client.set(self._probe_key, 1, px=PROBE_TTL_MS)
        except self._errors as error:
            return str(error) or type(error).__name__
        return None


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
