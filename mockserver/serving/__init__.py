"""Serving: the app factory and the processes that run it.

The app factory wires every layer below into one WSGI app (app.py); the
``mockserver`` command (cli.py) checks the settings and starts granian's
workers, which load the app through wsgi.py; reload.py is ``--watch``.
The top layer: nothing imports it but ``mockserver.create_app``.
"""
