"""M-Pesa's pure parts (Password, Kenyan time, shillings, MSISDNs, token lifetimes, callback
parsing) and the promise that no credential reaches a log, an error or an output."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mpesa_support import HOOK_TOKEN, Receiver, context, factory, integration_for, wait_until
from smeflow.connectors import (
    AuthFailed,
    ConnectorError,
    HttpFactory,
    InboundRequest,
    InvalidResponse,
    Rejected,
    secret_values,
)
from smeflow.connectors.mpesa import (
    SANDBOX_PASSKEY,
    Mpesa,
    MpesaSandbox,
    expires_in_seconds,
    originator_id,
)
from smeflow.connectors.mpesa._daraja import kenyan_msisdn, minor_of, password, timestamp, whole_shillings
from smeflow.connectors.mpesa._webhooks import parse
from smeflow.connectors.sandbox import SandboxServer

# --- pure conversions ---------------------------------------------------------------------


def test_the_password_matches_darajas_published_example() -> None:
    expected = (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGEx"
        "ZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
    )
    assert password("174379", SANDBOX_PASSKEY, "20210628092408") == expected


def test_timestamps_are_kenyan_time_whatever_the_clock_zone() -> None:
    assert timestamp(datetime(2026, 1, 1, 21, 30, 5, tzinfo=UTC)) == "20260102003005"
    lagos = timezone(timedelta(hours=1))
    assert timestamp(datetime(2026, 6, 30, 23, 0, 0, tzinfo=lagos)) == "20260701010000"


@given(st.integers(min_value=1, max_value=250_000))
def test_whole_shillings_round_trip(shillings: int) -> None:
    assert whole_shillings(shillings * 100, "KES") == shillings
    assert minor_of(shillings) == minor_of(float(shillings)) == minor_of(f"{shillings}.00") == shillings * 100


@given(st.integers(min_value=1, max_value=10**8), st.integers(min_value=1, max_value=99))
def test_fractions_of_a_shilling_are_refused(shillings: int, cents: int) -> None:
    with pytest.raises(Rejected, match="whole shillings"):
        whole_shillings(shillings * 100 + cents, "KES")


# Kenya's mobile ranges in libphonenumber's data: 7xx, 100 to 108 and 110 to 119 (109 is not allocated).
MOBILE_PREFIXES = [str(p) for p in range(700, 800)] + [str(p) for p in (*range(100, 109), *range(110, 120))]


@given(st.sampled_from(MOBILE_PREFIXES), st.integers(min_value=0, max_value=999_999))
def test_kenyan_mobiles_render_as_daraja_msisdns(prefix: str, rest: int) -> None:
    national = f"{prefix}{rest:06d}"
    assert kenyan_msisdn(f"+254{national}") == f"254{national}"


def test_token_lifetimes_are_numbers_or_strings() -> None:
    assert expires_in_seconds(3599) == expires_in_seconds("3599") == expires_in_seconds(" 3599 ") == 3599
    for bad in (None, "soon", True, 0, "-5"):
        with pytest.raises(InvalidResponse):
            expires_in_seconds(bad)


def test_originator_ids_keep_usable_keys_and_digest_others() -> None:
    assert originator_id("run-9:payout") == "run-9:payout"
    long = "r" * 80
    assert originator_id(long) == originator_id(long) != long
    assert len(originator_id(long)) <= 64
    assert originator_id(None) != originator_id(None)


# --- callbacks ----------------------------------------------------------------------------


def delivery(body: Any, **query: str) -> InboundRequest:
    return InboundRequest("POST", orjson.dumps(body), {"content-type": "application/json"}, query)


def test_stk_items_are_read_by_name_and_a_balance_without_value_is_fine() -> None:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": "0",
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "PhoneNumber", "Value": 254708374149},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": 20191219102115},
                        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                        {"Name": "Amount", "Value": 1.505},
                    ]
                },
            }
        }
    }
    with pytest.raises(InvalidResponse):  # not an amount of KES: read exactly or not at all
        parse(delivery(body))
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"][-1]["Value"] = 1.00  # type: ignore[index]
    (event,) = parse(delivery(body))
    assert event.kind == "payment.succeeded"
    assert event.data == {
        "amount_minor": 100,
        "currency": "KES",
        "provider_ref": "NLJ7RT61SV",
        "phone": "+254708374149",
    }


def test_a_failed_stk_callback_has_no_metadata() -> None:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
                "CheckoutRequestID": "ws_CO_21072024125243250722943992",
                "ResultCode": 1037,
                "ResultDesc": "DS timeout user cannot be reached",
            }
        }
    }
    (event,) = parse(delivery(body))
    assert (event.kind, event.reference, event.event_id) == (
        "payment.failed",
        "ws_CO_21072024125243250722943992",
        "stk:ws_CO_21072024125243250722943992:1037",
    )
    assert event.data == {"reason": "The customer's phone could not be reached.", "provider_code": "1037"}
    body["Body"]["stkCallback"]["ResultCode"] = 4999  # type: ignore[index]
    (unknown,) = parse(delivery(body))
    assert unknown.data["reason"] == "M-Pesa declined the request (DS timeout user cannot be reached)."


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"Body": {"stkCallback": {"ResultCode": 0}}},
        {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0}}},
        {"Result": {"ResultCode": 0, "OriginatorConversationID": "x"}},
        {"TransID": "RKL51ZDR4F", "TransAmount": "5.5.0"},
        {"Hello": "world"},
    ],
)
def test_malformed_callbacks_are_invalid_responses(body: Any) -> None:
    with pytest.raises(InvalidResponse):
        parse(delivery(body))


def test_a_c2b_body_from_the_docs_parses_with_its_masked_msisdn() -> None:
    body = {
        "TransactionType": "Pay Bill",
        "TransID": "RKL51ZDR4F",
        "TransTime": "20231121121325",
        "TransAmount": "5.00",
        "BusinessShortCode": "600966",
        "BillRefNumber": "Sample Transaction",
        "InvoiceNumber": "",
        "OrgAccountBalance": "25.00",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126",
        "FirstName": "NICHOLAS",
        "MiddleName": "",
        "LastName": "",
    }
    (event,) = parse(delivery(body, type="confirmation"))
    assert (event.kind, event.event_id, event.reference) == (
        "c2b.confirmation",
        "RKL51ZDR4F",
        "Sample Transaction",
    )
    assert event.data["amount_minor"] == 500
    assert event.data["name"] == "NICHOLAS"
    assert "phone" not in event.data
    (asked,) = parse(delivery(body, type="validation"))
    assert asked.kind == "c2b.validation"


# --- no credential anywhere ---------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[MpesaSandbox, str]]:
    sandbox = MpesaSandbox()
    with SandboxServer(sandbox) as url:
        yield sandbox, url


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver(Mpesa())
    with SandboxServer(hooks) as url:
        yield hooks, f"{url}/hooks/{HOOK_TOKEN}"


@pytest.fixture
async def http() -> AsyncIterator[HttpFactory]:
    made = factory()
    yield made
    await made.aclose()


async def test_no_credential_reaches_logs_errors_or_outputs(
    served: tuple[MpesaSandbox, str],
    receiver: tuple[Receiver, str],
    http: HttpFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    sandbox, url = served
    good = integration_for(url, receiver[1], security_credential=sandbox.security_credential())
    mpesa = Mpesa()
    ctx = context(good, http, key="run-13:step")
    shown: list[str] = [repr(good), repr(good.credentials)]
    await mpesa.check(ctx)
    push = await mpesa.call(
        "stk_push", ctx, {"amount_minor": 100, "phone": "+254708374149", "account_reference": "A1"}
    )
    shown.append(push.model_dump_json())
    shown.append(
        (
            await mpesa.call(
                "stk_query", ctx, {"checkout_request_id": push.model_dump()["checkout_request_id"]}
            )
        ).model_dump_json()
    )
    shown.append(
        (
            await mpesa.call("b2c_payment", ctx, {"amount_minor": 1000, "phone": "+254708374149"})
        ).model_dump_json()
    )
    shown.append((await mpesa.call("c2b_register_urls", ctx, {})).model_dump_json())
    await wait_until(lambda: len(receiver[0].deliveries) == 2, "the callbacks")
    shown.extend(event.model_dump_json() for event in receiver[0].events())
    failures: list[ConnectorError] = []
    for wrong in (
        integration_for(url, receiver[1], consumer_secret="wrong-secret-77"),
        integration_for(url, receiver[1], passkey="f" * 64),
    ):
        with pytest.raises((AuthFailed, Rejected)) as caught:
            await mpesa.call(
                "stk_push",
                context(wrong, http),
                {"amount_minor": 100, "phone": "+254712000001", "account_reference": "A2"},
            )
        failures.append(caught.value)
        shown.append(repr(wrong.credentials))
    shown.extend(f"{e} {e.message} {e.extra} {e.provider_code} {e!r}" for e in failures)

    creds = good.credentials
    secrets = [*secret_values(creds), "wrong-secret-77", "f" * 64]
    secrets += sandbox.issued  # the access tokens it issued
    assert len(sandbox.issued) >= 2
    basic = f"{creds.consumer_key.get_secret_value()}:{creds.consumer_secret.get_secret_value()}"  # type: ignore[attr-defined]
    secrets.append(base64.b64encode(basic.encode()).decode())
    secrets += [
        body["Password"] for _, _, body in sandbox.calls if isinstance(body, dict) and "Password" in body
    ]
    assert caplog.records
    everything = caplog.text + "\n".join(shown)
    for secret in secrets:
        assert secret not in everything, "a credential leaked"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["Body", "stkCallback", "Result", "TransID", "ResultCode", "CheckoutRequestID", "Item"]
)


_fields = st.dictionaries(
    st.sampled_from(["ResultCode", "CheckoutRequestID", "OriginatorConversationID", "TransAmount", "MSISDN"]),
    _json,
    max_size=5,
)
_items = st.lists(st.fixed_dictionaries({"Name": st.sampled_from(["Amount", "PhoneNumber"]), "Value": _json}))
_shaped = (
    st.tuples(_fields, _items).map(
        lambda f: {"Body": {"stkCallback": {**f[0], "ResultCode": 0, "CallbackMetadata": {"Item": f[1]}}}}
    )
    | _fields.map(lambda f: {"Result": f})
    | _fields.map(lambda f: {**f, "TransID": "RKL51ZDR4F"})
)


@given(st.dictionaries(_keys, _json, max_size=4) | _json | _shaped)
def test_any_json_parses_into_events_or_an_invalid_response(body: Any) -> None:
    try:
        events = parse(delivery(body))
    except InvalidResponse:
        return
    assert len(events) == 1
