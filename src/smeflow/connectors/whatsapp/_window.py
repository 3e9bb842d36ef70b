"""WhatsApp's 24-hour customer service window, as a pure function.

Free-form messages (text, media, interactive) may be sent to a customer only within 24 hours of
that customer's last inbound message; outside it only an approved template may be sent. Each
inbound message reopens the window.

How the channels layer uses :func:`window_open`:

1. On every ``message.received`` event with ``channel = "whatsapp"`` it records
   ``last_inbound_at`` (the event's ``data["timestamp"]``) per (tenant, ``phone_number_id``,
   customer number).
2. Before a free-form reply it calls ``window_open(last_inbound_at, now)``: open → the
   ``whatsapp.send_text`` / ``whatsapp.send_interactive`` action; closed (or never written) →
   the tenant's approved template for that purpose through ``whatsapp.send_template``.
3. It still handles error ``131047`` both ways: synchronously (the send raises
   :class:`~smeflow.connectors.Rejected` with ``provider_code == "131047"``) and
   asynchronously (a ``message.status`` event with ``status = "failed"`` and
   ``error_code = "131047"``: the Cloud API usually accepts the send and fails it later), by
   sending the template then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: how long after a customer's last message free-form messages may be sent
WINDOW = timedelta(hours=24)


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may be sent ``now`` to a customer whose last inbound message
    arrived at ``last_inbound_at`` (None: never). Both must be timezone-aware.

    The window is open for strictly less than 24 hours after the inbound message; a message
    "from the future" (clock skew) counts as just received.
    """
    if now.tzinfo is None or (last_inbound_at is not None and last_inbound_at.tzinfo is None):
        raise ValueError("window_open needs timezone-aware datetimes")
    if last_inbound_at is None:
        return False
    return now - last_inbound_at < WINDOW


__all__ = ["WINDOW", "window_open"]
