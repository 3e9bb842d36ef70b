"""Settings: built once from the environment; default secrets refused outside dev."""

from __future__ import annotations

import pytest

from smeflow.errors import ConfigurationError
from smeflow.settings import DEV_SECRET_KEY, Settings


def test_dev_accepts_the_default_secret() -> None:
    assert Settings(_env_file=None, env="dev").secret_key.get_secret_value() == DEV_SECRET_KEY


@pytest.mark.parametrize("env", ["test", "prod"])
def test_default_secret_is_refused_outside_dev(env: str) -> None:
    with pytest.raises(ConfigurationError, match="SMEFLOW_SECRET_KEY"):
        Settings(_env_file=None, env=env)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        Settings(_env_file=None, env="prod", secret_key="too-short")


def test_environment_variables_configure_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMEFLOW_ENV", "prod")
    monkeypatch.setenv("SMEFLOW_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SMEFLOW_OIDC__ISSUER", "https://id.example/realms/smeflow")
    monkeypatch.setenv("SMEFLOW_OIDC__AUDIENCE", "smeflow")
    settings = Settings(_env_file=None)
    assert settings.oidc is not None
    assert settings.oidc.issuer == "https://id.example/realms/smeflow"
    assert settings.tier("no-such-tier") == settings.tiers["free"]
