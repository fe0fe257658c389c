"""The contract: the OpenAPI documents and what they say about a request.

Loading a spec and listing its operations (spec.py), checking a body or a
query against it (validation.py), the one error envelope every failure leaves
as (errors.py), JSON out (jsontext.py), and where the bundled documents are
found (resources.py). The bottom layer: it imports nothing else of mockserver.
"""
