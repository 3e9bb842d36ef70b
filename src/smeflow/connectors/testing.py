"""The connector conformance suite: what every connector, built-in or third-party, must pass.

Use it from pytest by subclassing :class:`ConnectorConformance` in a test module and providing
three fixtures::

    class TestMpesaConformance(ConnectorConformance):
        connector_class = Mpesa

        @pytest.fixture
        def integration(self, mpesa_url): ...       # good credentials, base_url = the sandbox
        @pytest.fixture
        def bad_integration(self, mpesa_url): ...   # the same with wrong credentials
        @pytest.fixture
        def webhook_delivery(self, integration): ...  # a genuine delivery (InboundRequest), or None

The checks are plain functions too (:func:`declaration_problems`, :func:`check_credentials`,
:func:`check_webhook_forgery`), for other test runners.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, ClassVar

import pytest

from smeflow.connectors._errors import AuthFailed, ConnectorError
from smeflow.connectors._http import HttpFactory, secret_values
from smeflow.connectors._registry import ConnectorRegistry, problems_of
from smeflow.connectors._sdk import ActionContext, Connector, InboundRequest, Integration, WebhookEvent


def declaration_problems(connector: Connector) -> list[str]:
    """The registry's validation, plus: inputs hold no secrets, every schema is an object."""
    problems = problems_of(connector)
    for definition in type(connector).actions():
        for side, schema in (("input", definition.input_schema()), ("output", definition.output_schema())):
            if schema.get("type") != "object":
                problems.append(f"{definition.name}: the {side} schema must be an object")
        text = str(definition.input_schema())
        if "password" in text.lower() and "writeOnly" in text:
            problems.append(f"{definition.name}: secrets belong in the credentials, not in an action's input")
    return problems


async def check_credentials(
    connector: Connector, good: Integration, bad: Integration, factory: HttpFactory
) -> None:
    """``check()`` passes with ``good`` and raises :class:`AuthFailed` with ``bad``; neither the
    error nor the repr of the credentials shows a secret."""
    await connector.check(ActionContext(good, factory.for_integration(connector, good)))
    with pytest.raises(AuthFailed) as caught:
        await connector.check(ActionContext(bad, factory.for_integration(connector, bad)))
    shown = f"{caught.value} {caught.value.extra} {bad.credentials!r} {good.credentials!r}"
    for secret in secret_values(bad.credentials) + secret_values(good.credentials):
        assert secret not in shown, "a credential appears in an error or a repr"


def check_webhook_forgery(connector: Connector, integration: Integration, delivery: InboundRequest) -> None:
    """A genuine delivery verifies and parses into events with ids; for signed webhooks, the same
    body with one byte changed, or with its signature removed, is refused."""
    connector.verify_webhook(integration, delivery)
    events = connector.parse_webhook(integration, delivery)
    assert events, "a genuine delivery carries at least one event"
    for event in events:
        assert isinstance(event, WebhookEvent)
        assert event.kind in type(connector).webhook_events, f"{event.kind} is not declared in webhook_events"
    if type(connector).webhook_auth != "signature":
        return
    body = bytearray(delivery.body)
    body[len(body) // 2] ^= 0x01
    tampered = dataclasses.replace(delivery, body=bytes(body))
    with pytest.raises(AuthFailed):
        connector.verify_webhook(integration, tampered)
    unsigned = dataclasses.replace(
        delivery, headers={k: v for k, v in delivery.headers.items() if "sign" not in k and "hash" not in k}
    )
    with pytest.raises(AuthFailed):
        connector.verify_webhook(integration, unsigned)


class ConnectorConformance:
    """The suite as a pytest class (see the module docstring)."""

    connector_class: ClassVar[type[Connector]]

    @pytest.fixture
    def connector(self) -> Connector:
        return self.connector_class()

    @pytest.fixture
    async def http_factory(self) -> Any:
        factory = HttpFactory()
        yield factory
        await factory.aclose()

    def test_declarations_are_valid(self, connector: Connector) -> None:
        assert declaration_problems(connector) == []

    def test_registers(self, connector: Connector) -> None:
        registry = ConnectorRegistry([connector])
        for definition in type(connector).actions():
            assert registry.action(definition.name) is not None

    async def test_check_accepts_good_and_refuses_bad_credentials(
        self,
        connector: Connector,
        integration: Integration,
        bad_integration: Integration,
        http_factory: HttpFactory,
    ) -> None:
        await check_credentials(connector, integration, bad_integration, http_factory)

    def test_webhooks_verify_and_refuse_forgeries(
        self, connector: Connector, integration: Integration, webhook_delivery: InboundRequest | None
    ) -> None:
        if type(connector).webhook_events:
            assert webhook_delivery is not None, "a connector with webhooks must provide a genuine delivery"
            check_webhook_forgery(connector, integration, webhook_delivery)
        else:
            assert webhook_delivery is None

    def test_errors_are_connector_errors(self, connector: Connector) -> None:
        # a malformed delivery is an InvalidResponse (or the connector has no webhooks)
        if not type(connector).webhook_events:
            return
        integration = Integration(
            id=uuid.uuid4(),
            tenant_id=uuid.uuid4(),
            connector=connector.key,
            config=type(connector).config_model(),
            credentials=_placeholder_credentials(connector),
        )
        with pytest.raises(ConnectorError):
            connector.parse_webhook(integration, InboundRequest("POST", b"\x00not a delivery"))


def _placeholder_credentials(connector: Connector) -> Any:
    model = type(connector).credentials_model
    values = {name: "x" * 16 for name, info in model.model_fields.items() if info.is_required()}
    return model.model_validate(values)


__all__ = ["ConnectorConformance", "check_credentials", "check_webhook_forgery", "declaration_problems"]
