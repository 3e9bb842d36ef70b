"""Integrations: a tenant's connected provider accounts (credentials in the vault), the webhook
ingress and its inbox, and the outbox of outbound side effects. See ``models.py``."""
