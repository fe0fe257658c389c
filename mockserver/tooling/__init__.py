"""The tooling around the emulated API, for the people and programs using it.

The admin API with its own contract (admin.py, admin_openapi.yaml), the pages
for people (pages/: /docs and /__inspector), ``mockserver check`` and
``verify`` (checking.py, schemathesis.toml), and the pytest plugin with the
harness that runs a real server process (pytest_plugin.py, testing.py). A new
page goes into pages/, a new admin operation into admin.py and its document.
"""
