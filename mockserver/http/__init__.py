"""The HTTP pipeline: a request flows one way through it, as in Prism.

router.py picks the operation, auth.py checks the bearer key, the contract
validates the query and body, the backend's handler answers, exchange.py
sends it; cors.py, prefer.py and logs.py wrap that flow. pipeline.py is the
WSGI app that strings them together; it knows the pages above it only as
what the app factory hands it.
"""
