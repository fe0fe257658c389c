"""The demo audit history of a fresh state, made from the fixtures' demo keys.

history.py draws the rows; this picks the keys they are drawn for (the usable
demo keys, with the rules a gateway check of theirs would
evaluate on any resource) and writes the rows when a state is seeded.
"""

from mockserver.backend.apikeys import is_expired
from mockserver.backend.context import Context
from mockserver.backend.counting import BUILT_IN_RULE
from mockserver.backend.history import HistoryKey, demo_history
from mockserver.backend.windows import rule_string


def history_keys(ctx: Context) -> list[HistoryKey]:
    """The demo keys whose past checks are made up, in the fixtures' order:
    those a check would reach the audit with (active, of an active app, not
    expired)."""
    now = ctx.clock.now()
    apps = {app["id"]: app for app in ctx.fixtures.apps}
    schemes = {scheme.slug: scheme for scheme in ctx.fixtures.schemes.values()}
    keys = []
    for key, app_id, _hash, _created in ctx.fixtures.app_keys:
        app = apps[app_id]
        usable = key["is_active"] and app["is_active"] and app["deleted_at"] is None
        if not usable or is_expired(key, now):
            continue
        slug = key["rate_limit_scheme_slug"] or app["rate_limit_scheme_slug"]
        scheme = schemes.get(slug) if slug is not None else None
        if scheme is None:
            rules = [BUILT_IN_RULE]
        else:
            matching = [r for r in scheme.rules if "*" in (r.get("endpoints") or ["*"])]
            rules = sorted(matching, key=lambda rule: rule.get("priority", 0))
        keys.append(
            HistoryKey(
                app_slug=key["app_slug"],
                key_id=key["id"],
                key_name=key["name"],
                rules=[rule_string(rule) for rule in rules],
                limits=[rule["max_requests"] for rule in rules],
            )
        )
    return keys


def seed_history(ctx: Context, seed: int | None, machine_id: int) -> None:
    """Write the demo history before the clock's now, as the fixtures ask."""
    setting = ctx.fixtures.audit_history
    if setting is None:
        return
    ctx.audit.write_many(
        demo_history(
            history_keys(ctx),
            now=ctx.clock.now(),
            days=setting.days,
            checks_per_day=setting.checks_per_day,
            deployment_id=ctx.fixtures.deployment.id,
            machine_id=machine_id,
            seed=seed,
        )
    )
