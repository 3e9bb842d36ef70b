"""The connector registry: built-ins registered explicitly, third-party connectors through the
``smeflow.connectors`` entry-point group, every one validated when it is registered.

A third-party package declares, in its ``pyproject.toml``::

    [project.entry-points."smeflow.connectors"]
    acme_crm = "acme_smeflow:AcmeCrm"

and the registry instantiates the class. A connector that fails validation stops the start-up
with a message naming every problem (:class:`ConnectorInvalid`): better than a run failing later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import entry_points

from pydantic import BaseModel, SecretStr

from smeflow.connectors._sdk import EVENT_KINDS, ActionDef, Connector, ConnectorConfig
from smeflow.errors import ConfigurationError

ENTRY_POINT_GROUP = "smeflow.connectors"
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_SECRET_NAME = re.compile(r"(secret|password|token|passkey|api_?key|private)", re.IGNORECASE)


class ConnectorInvalid(ConfigurationError):
    code = "connector_invalid"
    title = "A connector is not valid"


def problems_of(connector: Connector) -> list[str]:
    """Everything wrong with ``connector``'s declarations (empty: it is valid)."""
    cls = type(connector)
    problems: list[str] = []
    for attr in ("key", "version", "title", "description", "default_base_url"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr):
            problems.append(f"{attr} is missing")
    if problems:
        return problems
    if not _KEY.match(cls.key):
        problems.append(f"key {cls.key!r} must be lower-case letters, digits and _ (2 to 40)")
    if not _VERSION.match(cls.version):
        problems.append(f"version {cls.version!r} must be MAJOR.MINOR.PATCH")
    if not (isinstance(cls.config_model, type) and issubclass(cls.config_model, ConnectorConfig)):
        problems.append("config_model must subclass ConnectorConfig")
    if not (isinstance(cls.credentials_model, type) and issubclass(cls.credentials_model, BaseModel)):
        problems.append("credentials_model must be a pydantic model")
    else:
        for name, info in cls.credentials_model.model_fields.items():
            if _SECRET_NAME.search(name) and info.annotation not in (SecretStr, SecretStr | None):
                problems.append(f"credential {name!r} looks secret: declare it SecretStr")
    for kind in cls.webhook_events:
        if kind not in EVENT_KINDS:
            problems.append(f"webhook event kind {kind!r} is not one of SMEFlow's event kinds")
    if cls.webhook_events and cls.webhook_auth is None:
        problems.append("a connector with webhook events must say how they are authenticated (webhook_auth)")
    try:
        actions = cls.actions()
        cls.polling_triggers()
    except TypeError as exc:
        return [*problems, str(exc)]
    names: set[str] = set()
    for definition in actions:
        problems.extend(_action_problems(definition))
        if definition.name in names:
            problems.append(f"action {definition.name!r} is declared twice")
        names.add(definition.name)
    return problems


def _action_problems(definition: ActionDef) -> list[str]:
    problems = []
    if len(definition.description) < 20:
        problems.append(f"{definition.name}: the description (the method's docstring) must say what it does")
    for model, side in ((definition.input_model, "input"), (definition.output_model, "output")):
        try:
            model.model_json_schema()
        except Exception as exc:
            problems.append(f"{definition.name}: the {side} model has no JSON Schema ({exc})")
    for name, info in definition.output_model.model_fields.items():
        if info.annotation in (SecretStr, SecretStr | None):
            problems.append(
                f"{definition.name}: output field {name!r} is a secret; outputs are stored in runs"
            )
    return problems


class ConnectorRegistry:
    """Connectors by key, and their actions by full name."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._connectors: dict[str, Connector] = {}
        self._actions: dict[str, tuple[Connector, ActionDef]] = {}
        for connector in connectors:
            self.register(connector)

    def register(self, connector: Connector) -> None:
        """Add ``connector`` (:class:`ConnectorInvalid` naming every problem, or a taken key)."""
        problems = problems_of(connector)
        name = getattr(type(connector), "key", type(connector).__name__)
        if not problems and name in self._connectors:
            problems = [f"the key {name!r} is taken by another connector"]
        if problems:
            raise ConnectorInvalid(f"connector {name!r}: " + "; ".join(problems))
        self._connectors[connector.key] = connector
        for definition in connector.actions():
            self._actions[definition.name] = (connector, definition)

    def get(self, key: str) -> Connector | None:
        return self._connectors.get(key)

    def action(self, name: str) -> tuple[Connector, ActionDef] | None:
        """The connector and the action of a full action name (``"mpesa.stk_push"``)."""
        return self._actions.get(name)

    def all(self) -> list[Connector]:
        return [self._connectors[key] for key in sorted(self._connectors)]

    def keys(self) -> list[str]:
        return sorted(self._connectors)


def entry_point_connectors() -> list[Connector]:
    """The connectors other installed packages declare (group ``smeflow.connectors``)."""
    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:
            raise ConnectorInvalid(
                f"connector entry point {point.name!r} could not be loaded: {exc}"
            ) from None
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            raise ConnectorInvalid(f"connector entry point {point.name!r} is not a Connector class")
        found.append(loaded())
    return found


__all__ = [
    "ENTRY_POINT_GROUP",
    "ConnectorInvalid",
    "ConnectorRegistry",
    "entry_point_connectors",
    "problems_of",
]
