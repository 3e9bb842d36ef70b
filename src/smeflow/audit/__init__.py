"""The tamper-evident audit log: one SHA-256 hash chain per tenant.

Key contracts: an event is written in the same transaction as the change it records; the
application role may INSERT and SELECT audit events, never UPDATE or DELETE them.
"""

from smeflow.audit._chain import GENESIS, chain_hash, event_fields
from smeflow.audit.models import AuditEvent, AuditHead
from smeflow.audit.service import Actor, ActorType, record

__all__ = ["GENESIS", "Actor", "ActorType", "AuditEvent", "AuditHead", "chain_hash", "event_fields", "record"]
