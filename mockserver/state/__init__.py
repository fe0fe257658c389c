"""The state: what the server keeps between requests, shared by every worker.

One SQLite file shared by threads and processes (database.py), the apps and
schemes (store.py) and the request journal (journal.py). A new kind of stored
thing gets its store here; what it means belongs to the backend above.
"""
