"""The tamper-evident audit log: one SHA-256 hash chain per tenant.

Key contracts: an event is written in the same transaction as the change it records; the
application role may INSERT and SELECT audit events, never UPDATE or DELETE them. Verification
reports the first broken link: a missing seq, a broken ``prev_hash`` link, an event whose
content no longer matches its hash, or an ``audit_heads`` row that does not match the last event.
"""

from smeflow.audit._chain import (
    GENESIS,
    ChainBreak,
    ChainState,
    chain_hash,
    check_head,
    check_links,
    event_fields,
    first_broken,
)
from smeflow.audit.models import AuditEvent, AuditHead
from smeflow.audit.schemas import AuditEventOut, ChainReportOut
from smeflow.audit.service import Actor, ActorType, ChainReport, list_events, record, verify_chain

__all__ = [
    "GENESIS",
    "Actor",
    "ActorType",
    "AuditEvent",
    "AuditEventOut",
    "AuditHead",
    "ChainBreak",
    "ChainReport",
    "ChainReportOut",
    "ChainState",
    "chain_hash",
    "check_head",
    "check_links",
    "event_fields",
    "first_broken",
    "list_events",
    "record",
    "verify_chain",
]
