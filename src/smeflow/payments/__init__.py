"""Payments: a state machine per payment, fed by provider callbacks and confirmed by status queries."""
