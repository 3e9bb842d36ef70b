"""Pure building blocks: ids, clock, canonical JSON. No I/O, no framework imports."""

from smeflow.core.canonical import canonical_json
from smeflow.core.clock import utcnow
from smeflow.core.ids import new_id, new_token

__all__ = ["canonical_json", "new_id", "new_token", "utcnow"]
