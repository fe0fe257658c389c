"""What a server is built from, apart from HTTP: the spec, the fixtures and
the state, read and wired together.

Apart from app.py so that ``serve``'s settings check, forked before the
command imports the request path (serving/boot.py), imports only this.
"""

import random
from dataclasses import dataclass

from mockserver.backend.clock import FrozenClock, ShiftedClock, SystemClock
from mockserver.backend.demo import seed_history
from mockserver.backend.fixtures import Fixtures, load_fixtures
from mockserver.backend.handlers import Context
from mockserver.backend.ids import MAX_MACHINE_ID, ProcessSnowflakes
from mockserver.backend.keys import SeededSecrets
from mockserver.backend.ratelimits import complete_rule
from mockserver.config import Settings
from mockserver.contract.resources import gateway_spec_path
from mockserver.contract.spec import Spec, load_spec
from mockserver.state.audit import AuditLog
from mockserver.state.counters import CounterStore, namespace_of
from mockserver.state.journal import Journal
from mockserver.state.store import Store
from mockserver.tooling.admin import ADMIN_SPEC_PATH


def machine_id_from(seed: int | None) -> int:
    """The snowflake machine id; ``--seed`` fixes it.

    Drawn the way Faker's ``random_int`` draws it (``Random(seed).randrange``),
    so a seed gives the machine id it always gave, without importing Faker at
    start-up (a fifth of a second of every worker's, measured).
    """
    draw = random.Random(seed) if seed is not None else random.SystemRandom()
    return draw.randrange(MAX_MACHINE_ID + 1)


@dataclass(frozen=True)
class Loaded:
    """What the settings are checked against, read once: the Wacht spec, the
    gateway's, the admin API's (read even with ``--no-admin``: it names what a
    session name may be) and the fixtures."""

    spec: Spec
    gateway_spec: Spec
    admin_spec: Spec
    fixtures: Fixtures


def load(settings: Settings) -> Loaded:
    """Read and check the spec and the fixtures: SpecError or FixtureError."""
    spec = load_spec(settings.spec_path)
    admin_spec = load_spec(ADMIN_SPEC_PATH)
    fixtures = load_fixtures(settings.fixtures_dir, spec)
    return Loaded(spec, load_spec(gateway_spec_path()), admin_spec, fixtures)


def build_context(settings: Settings, spec: Spec, fixtures: Fixtures | None = None) -> Context:
    """Load the fixtures (unless given), open the store (seeding a new one)
    and wire the rest."""
    base_clock = FrozenClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    fixtures = fixtures or load_fixtures(settings.fixtures_dir, spec)
    # Before the store is opened: a bad URL leaves nothing half-open.
    redis_client = None
    if settings.redis_url is not None:
        from mockserver.state import redis_counters

        redis_client = redis_counters.connect(settings.redis_url)
    store = Store(settings.state_path, durable=not settings.state_is_temporary)
    # Moved by POST /__admin/clock, for every worker: the offset is shared state.
    clock = ShiftedClock(base_clock, store.clock_offset.read)
    rule_schema = spec.component_schema("RateLimitRule")
    ids = ProcessSnowflakes(clock, machine_id_from(settings.seed), store.claim_machine_id)
    counters: CounterStore = store.counters
    if redis_client is not None:
        counters = redis_counters.RedisCounters(
            redis_client, str(namespace_of(store.database)), store.database
        )
    context = Context(
        fixtures=fixtures,
        store=store,
        ids=ids,
        clock=clock,
        complete_rule=lambda rule: complete_rule(rule, rule_schema),
        # On PostgreSQL the journal is shared by the replicas: in that database.
        journal=Journal(
            store.database if store.is_shared else settings.journal_path, settings.journal_size
        ),
        audit=AuditLog(store.database, settings.audit_size),
        counters=counters,
    )
    if settings.seed is not None:
        context.secret_bytes = SeededSecrets(settings.seed, ids.machine_id)
    context.after_load = lambda ctx: seed_history(ctx, settings.seed, ids.machine_id())
    context.load_fixtures(only_if_new=True)
    return context
