"""The rules a rate-limit rule must obey beyond its schema (the backend's own checks).

The schema (``RateLimitRule`` in openapi.yaml) says which fields exist and
their types; these limits on the window are the backend's business logic.
"""

from copy import deepcopy
from datetime import timedelta
from typing import Any

MAX_WINDOW = timedelta(days=30)
# Longest duration per unit; None where only a duration of 1 makes sense.
DURATION_CAPS: dict[str, int] = {
    "millisecond": 60_000,
    "second": 1_800,
    "minute": 1_440,
    "hour": 720,
    "day": 30,
    "calendar_day": 1,
    "month": 1,
    "calendar_month": 1,
}
UNIT_LENGTHS: dict[str, timedelta] = {
    "millisecond": timedelta(milliseconds=1),
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "calendar_day": timedelta(days=1),
    "month": timedelta(days=30),
    "calendar_month": timedelta(days=30),
}


def rule_problems(rule: dict[str, Any]) -> list[str]:
    """What is wrong with a schema-valid rule, one sentence per problem."""
    unit, duration = rule["unit"], rule["duration"]
    cap = DURATION_CAPS[unit]
    if duration > cap:
        if cap == 1:
            return [f"duration must be 1 for unit '{unit}' (got {duration})"]
        return [f"duration {duration} exceeds the cap of {cap} for unit '{unit}'"]
    if UNIT_LENGTHS[unit] * duration > MAX_WINDOW:
        return [f"the window ({duration} {unit}) is longer than 30 days"]
    return []


def complete_rule(rule: dict[str, Any], rule_schema: dict[str, Any]) -> dict[str, Any]:
    """The rule as the API sends it: every property of the spec's ``RateLimitRule``,
    in the spec's order, with the spec's default where the rule has none."""
    properties = rule_schema["properties"]
    return {
        name: deepcopy(rule.get(name, prop.get("default"))) for name, prop in properties.items()
    }
