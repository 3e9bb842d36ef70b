"""Shared fixture: the default intent model (embedding its examples takes seconds, once a session)."""

from __future__ import annotations

import pytest

from smeflow.understanding import IntentModel, default_examples


@pytest.fixture(scope="session")
def model() -> IntentModel:
    return IntentModel.from_examples(default_examples())
