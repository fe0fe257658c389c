"""The emulated Wacht backend: what each operation does, as the real one does it.

The operations (handlers.py) take a parsed call and give a document or an
ApiError; they know no HTTP and no schema. Below them are the backend's
rules (rules.py, ratelimits.py), the shapes it stores and sends (records.py),
its snowflake ids (ids.py) and clock (clock.py), and the fixtures that seed
a new world (fixtures.py, checked against fixture_schema.yaml). A new
operation is a handler here plus its entry in openapi.yaml.
"""
