"""SMEFlow configuration: one ``Settings`` object, built once at an entry point and passed down.

Nothing else in SMEFlow reads the environment. Every field can be set with an environment
variable named ``SMEFLOW_<FIELD>`` (nested fields with ``__``), or in a ``.env`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smeflow.errors import ConfigurationError

DEV_SECRET_KEY = "smeflow-dev-secret-key-change-me-0000000000"  # noqa: S105 (refused outside dev)


class TierQuota(BaseModel):
    """What a tenant on one tier may use."""

    model_config = {"frozen": True}

    requests_per_second: float = Field(gt=0, description="sustained API requests per second")
    burst: int = Field(gt=0, description="requests allowed at once before throttling")
    max_users: int = Field(gt=0)
    max_api_keys: int = Field(gt=0)
    concurrent_runs: int = Field(gt=0)
    llm_budget_micros: int = Field(
        default=0,
        ge=0,
        description="language-model spend allowed per calendar month, in millionths of a US dollar "
        "(0: offline understanding only); warned at llm_budget_warn_ratio, offline at 100 %",
    )


def default_tiers() -> dict[str, TierQuota]:
    return {
        "free": TierQuota(
            requests_per_second=5,
            burst=20,
            max_users=5,
            max_api_keys=3,
            concurrent_runs=2,
            llm_budget_micros=2_000_000,
        ),
        "starter": TierQuota(
            requests_per_second=20,
            burst=60,
            max_users=10,
            max_api_keys=10,
            concurrent_runs=10,
            llm_budget_micros=20_000_000,
        ),
        "business": TierQuota(
            requests_per_second=100,
            burst=300,
            max_users=50,
            max_api_keys=50,
            concurrent_runs=50,
            llm_budget_micros=200_000_000,
        ),
        "enterprise": TierQuota(
            requests_per_second=1000,
            burst=3000,
            max_users=1000,
            max_api_keys=500,
            concurrent_runs=500,
            llm_budget_micros=2_000_000_000,
        ),
    }


class LlmPrice(BaseModel):
    """What one model costs, in millionths of a US dollar per million tokens."""

    model_config = {"frozen": True}

    input_per_million: int = Field(ge=0, description="per million prompt tokens not read from the cache")
    output_per_million: int = Field(ge=0, description="per million completion tokens")
    cached_per_million: int | None = Field(
        default=None, ge=0, description="per million prompt tokens the provider read from its cache"
    )


def default_llm_prices() -> dict[str, LlmPrice]:
    """List prices (USD) of common models, keyed ``provider:model``; operators override them."""
    return {
        "openai:gpt-4o-mini": LlmPrice(
            input_per_million=150_000, output_per_million=600_000, cached_per_million=75_000
        ),
        "openai:gpt-4o": LlmPrice(
            input_per_million=2_500_000, output_per_million=10_000_000, cached_per_million=1_250_000
        ),
        "openai:gpt-4.1-mini": LlmPrice(
            input_per_million=400_000, output_per_million=1_600_000, cached_per_million=100_000
        ),
        "anthropic:claude-3-5-haiku-latest": LlmPrice(
            input_per_million=800_000, output_per_million=4_000_000, cached_per_million=80_000
        ),
        "anthropic:claude-sonnet-4-0": LlmPrice(
            input_per_million=3_000_000, output_per_million=15_000_000, cached_per_million=300_000
        ),
        "google_genai:gemini-2.0-flash": LlmPrice(
            input_per_million=100_000, output_per_million=400_000, cached_per_million=25_000
        ),
    }


def default_usd_rates() -> dict[str, str]:
    """Units of each currency per US dollar, to show LLM spend in a tenant's currency."""
    return {
        "USD": "1",
        "KES": "129",
        "NGN": "1530",
        "ZAR": "18.1",
        "GHS": "15.2",
        "UGX": "3700",
        "TZS": "2600",
        "RWF": "1420",
        "ETB": "125",
        "EGP": "48.5",
        "MAD": "9.9",
        "XOF": "600",
        "XAF": "600",
        "ZMW": "26.5",
        "BWP": "13.6",
        "MZN": "63.9",
        "SOS": "571",
        "EUR": "0.92",
    }


class OidcSettings(BaseModel):
    """An external OpenID Connect issuer (Keycloak or any other) whose bearer tokens we accept."""

    issuer: str
    audience: str
    jwks_url: str | None = Field(
        default=None, description="defaults to the jwks_uri of the issuer's discovery document"
    )
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    email_claim: str = "email"
    tenant_claim: str = Field(default="smeflow_tenant", description="claim holding the tenant slug")
    roles_claim: str = Field(
        default="realm_access.roles", description="dotted path of the claim that lists roles"
    )
    role_prefix: str = Field(default="smeflow-", description="a role named smeflow-admin maps to admin")
    auto_provision: bool = Field(
        default=True, description="create the user and membership on first sight of a valid token"
    )
    jwks_cache_seconds: int = Field(default=600, gt=0)


class Settings(BaseSettings):
    """All of SMEFlow's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SMEFLOW_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = "dev"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    retired_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="earlier secret keys, still accepted to open what they sealed until "
        "`smeflow keys rotate` has re-encrypted it under the current key (a JSON list)",
    )

    # database
    database_url: SecretStr | None = Field(
        default=None,
        description="URL of an external PostgreSQL (the owner role, used for migrations); "
        "unset = embedded PostgreSQL in data_dir",
    )
    database_app_role: str = "smeflow_app"
    database_app_password: SecretStr | None = None
    database_pool_size: int = Field(default=10, gt=0)
    data_dir: Path = Path(".smeflow")
    migrate_on_start: bool = True

    # workflow runs
    embedded_worker: bool = Field(
        default=True, description="serve also executes workflow runs (off when `smeflow worker` runs apart)"
    )
    http_allow_private_networks: bool = Field(
        default=False,
        description=(
            "workflow steps may call private, loopback and link-local addresses (local development, "
            "an on-premises install calling its own network); off: public addresses only"
        ),
    )
    worker_concurrency: int = Field(default=10, gt=0, description="runs one worker executes at once")
    worker_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="how often a worker tells the queue it is alive"
    )
    worker_dead_after_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a worker silent this long is dead: its runs are taken over by another worker",
    )

    # agents and language models
    llm_prices: dict[str, LlmPrice] = Field(
        default_factory=default_llm_prices,
        description="price per model (provider:model); a model missing here is recorded at cost 0 and logged",
    )
    usd_rates: dict[str, str] = Field(
        default_factory=default_usd_rates,
        description="units of a currency per US dollar (decimal strings), for spend in a tenant's currency",
    )
    llm_budget_warn_ratio: float = Field(
        default=0.8, gt=0, le=1, description="share of the budget that warns"
    )
    llm_cache_ttl_seconds: int = Field(
        default=7 * 24 * 3600, gt=0, description="how long a cached answer lives"
    )
    llm_semantic_cache_threshold: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="cosine similarity (multilingual-e5-small) from which a cached answer is reused, "
        "for questions whose content words are the same (see smeflow.agents._cache)",
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="one model call's time limit")

    # HTTP
    payments_quiet_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a pending payment the provider has said nothing of for this long is queried "
        "(its callback may have been lost)",
    )
    payments_reconcile_every_seconds: float = Field(
        default=5.0, gt=0, description="how often workers look for such payments"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    webhook_max_body_bytes: int = Field(
        default=262_144, gt=0, description="the largest provider webhook delivery accepted (413 above)"
    )
    public_url: str | None = None

    # tokens
    jwt_issuer: str = "smeflow"
    jwt_audience: str = "smeflow-api"
    access_token_seconds: int = Field(default=900, gt=0)
    refresh_token_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    mfa_token_seconds: int = Field(default=300, gt=0)
    auth_cache_seconds: float = Field(
        default=30.0, ge=0, description="how long a verified API key or session is trusted in memory"
    )
    oidc: OidcSettings | None = None

    # rate limits
    redis_url: str | None = None
    api_key_requests_per_second: float = Field(default=50.0, gt=0)
    api_key_burst: int = Field(default=100, gt=0)
    tiers: dict[str, TierQuota] = Field(default_factory=default_tiers)

    # logging
    log_level: str = "INFO"
    log_json: bool = False

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env != "dev" and self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ConfigurationError(
                "SMEFLOW_SECRET_KEY is the development default; set a secret of your own "
                "(at least 32 characters) or SMEFLOW_ENV=dev"
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ConfigurationError("SMEFLOW_SECRET_KEY must be at least 32 characters long")
        return self

    def tier(self, name: str) -> TierQuota:
        """The quota of tier ``name`` (unknown tiers get the free tier's)."""
        return self.tiers.get(name) or self.tiers.get("free") or default_tiers()["free"]


__all__ = [
    "DEV_SECRET_KEY",
    "LlmPrice",
    "OidcSettings",
    "Settings",
    "TierQuota",
    "default_llm_prices",
    "default_tiers",
    "default_usd_rates",
]
