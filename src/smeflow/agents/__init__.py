"""agents"""

from smeflow.agents._providers import (
    DEFAULT_BASE_URLS,
    NO_KEY,
    OFFLINE,
    PROVIDERS,
    ModelRef,
    Provider,
    build_chat_model,
    parse_model_ref,
)
from smeflow.agents._usage import Usage, cost_micros, usage_of

__all__ = [
    "DEFAULT_BASE_URLS",
    "NO_KEY",
    "OFFLINE",
    "PROVIDERS",
    "ModelRef",
    "Provider",
    "Usage",
    "build_chat_model",
    "cost_micros",
    "parse_model_ref",
    "usage_of",
]
