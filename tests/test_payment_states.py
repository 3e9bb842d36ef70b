"""The payment state machine: what each observation changes, and what it never changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smeflow.payments._states import TRANSITIONS, Observed, next_status

STATUSES = list(TRANSITIONS)
OBSERVABLE = ["pending", "succeeded", "failed", "reversed"]


def test_the_happy_path_and_a_reversal() -> None:
    assert next_status("created", 100, "KES", Observed("pending")).to == "pending"
    assert next_status("pending", 100, "KES", Observed("succeeded", 100, "KES")).to == "succeeded"
    assert next_status("succeeded", 100, "KES", Observed("reversed")).to == "reversed"


def test_duplicate_and_late_observations_change_nothing() -> None:
    assert next_status("succeeded", 100, "KES", Observed("succeeded", 100, "KES")).to is None
    assert next_status("succeeded", 100, "KES", Observed("failed", reason="late")).to is None
    assert next_status("failed", 100, "KES", Observed("succeeded", 100, "KES")).to is None
    assert next_status("pending", 100, "KES", Observed("pending")).to is None


def test_a_success_for_another_amount_or_currency_is_a_failure_never_a_payment() -> None:
    decision = next_status("pending", 150000, "KES", Observed("succeeded", 100, "KES"))
    assert (decision.to, decision.code) == ("failed", "amount_mismatch")
    assert next_status("pending", 100, "KES", Observed("succeeded", 100, "UGX")).to == "failed"


@given(st.sampled_from(STATUSES), st.lists(st.sampled_from(OBSERVABLE), max_size=12))
def test_any_sequence_of_observations_follows_the_table(start: str, seen: list[str]) -> None:
    status = start
    for observed in seen:
        decision = next_status(status, 100, "KES", Observed(observed, 100, "KES"))  # type: ignore[arg-type]
        if decision.to is not None:
            assert decision.to in TRANSITIONS[status]
            status = decision.to
    if start in ("failed", "reversed"):
        assert status == start  # final states stay final
