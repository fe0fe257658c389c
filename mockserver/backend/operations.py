"""Every operation of openapi.yaml, by operationId, with the handler that does it.

The handlers live by family (handlers.py for apps and schemes, audit.py for
the audit); this is the one table the router and ``mockserver check`` read.
"""

from mockserver.backend.audit import AUDIT_HANDLERS
from mockserver.backend.handlers import HANDLERS, Handler

OPERATIONS: dict[str, Handler] = {**HANDLERS, **AUDIT_HANDLERS}
