"""The M-Pesa sandbox speaks Daraja: OAuth rules, the Bearer check, the STK field rules and
error bodies (protocols §1.2 to §1.8), called with plain HTTP as any Daraja client would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from smeflow.connectors.mpesa import (
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    MpesaSandbox,
)
from smeflow.connectors.mpesa._daraja import password, timestamp
from smeflow.connectors.sandbox import SandboxServer

STK = "/mpesa/stkpush/v1/processrequest"


@pytest.fixture
def served() -> Iterator[tuple[MpesaSandbox, str]]:
    sandbox = MpesaSandbox()
    with SandboxServer(sandbox) as url:
        yield sandbox, url


@pytest.fixture
async def client(served: tuple[MpesaSandbox, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served[1]) as made:
        yield made


async def token(client: httpx.AsyncClient) -> str:
    answer = await client.get(
        "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["expires_in"] == "3599"
    return str(body["access_token"])


def stk_body(**changes: Any) -> dict[str, Any]:
    stamp = timestamp(datetime.now(UTC))
    body = {
        "BusinessShortCode": 174379,
        "Password": password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, stamp),
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "1",
        "PartyA": "254708374149",
        "PartyB": "174379",
        "PhoneNumber": "254708374149",
        "CallBackURL": "http://127.0.0.1:9/cb",
        "AccountReference": "accountref",
        "TransactionDesc": "txndesc",
    }
    body.update(changes)
    return body


async def stk(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {await token(client)}", **headers}
    return await client.post(STK, json=body, headers=sent)


def error(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()
    assert body["requestId"]
    return answer.status_code, body["errorCode"], body["errorMessage"]


async def test_oauth_refuses_what_daraja_refuses(client: httpx.AsyncClient) -> None:
    wrong_grant = await client.get(
        "/oauth/v1/generate",
        params={"grant_type": "password"},
        auth=(SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET),
    )
    assert error(wrong_grant)[:2] == (400, "400.008.02")
    unauthenticated = await client.get("/oauth/v1/generate", params={"grant_type": "client_credentials"})
    assert error(unauthenticated)[:2] == (400, "400.008.01")
    wrong_secret = await client.get(
        "/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=(SANDBOX_CONSUMER_KEY, "nope")
    )
    assert error(wrong_secret)[:2] == (400, "400.008.01")
    posted = await client.post("/oauth/v1/generate?grant_type=client_credentials")
    assert error(posted)[:2] == (405, "405.001")


async def test_a_new_token_invalidates_the_previous_one(client: httpx.AsyncClient) -> None:
    first = await token(client)
    assert (
        await client.post(STK, json=stk_body(), headers={"Authorization": f"Bearer {first}"})
    ).status_code == 200
    await token(client)
    again = await client.post(
        STK,
        json=stk_body(PhoneNumber="254712345678", PartyA="254712345678"),
        headers={"Authorization": f"Bearer {first}"},
    )
    assert error(again) == (404, "404.001.03", "Invalid Access Token")
    no_header = await client.post(STK, json=stk_body())
    assert error(no_header)[:2] == (404, "404.001.04")


async def test_the_official_sample_is_accepted_with_string_ids(client: httpx.AsyncClient) -> None:
    answer = await stk(client, stk_body())
    assert answer.status_code == 200
    body = answer.json()
    assert body["ResponseCode"] == "0"
    assert body["CheckoutRequestID"].startswith("ws_CO_")
    assert body["CustomerMessage"] == "Success. Request accepted for processing"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"AccountReference": "ref-13-chars!"},
            (400, "400.002.02", "Bad Request - Invalid AccountReference"),
        ),
        ({"AccountReference": ""}, (400, "400.002.02", "Bad Request - Invalid AccountReference")),
        ({"TransactionDesc": "fourteen chars"}, (400, "400.002.02", "Bad Request - Invalid TransactionDesc")),
        ({"Amount": 0}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"Amount": "250001"}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"Amount": "1.50"}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"PhoneNumber": "0708374149"}, (400, "400.002.02", "Bad Request - Invalid PhoneNumber")),
        ({"PartyA": "+254708374149"}, (400, "400.002.02", "Bad Request - Invalid PartyA")),
        ({"PartyB": "600000"}, (400, "400.002.02", "Bad Request - Invalid PartyB")),
        ({"TransactionType": "PayBill"}, (400, "400.002.02", "Bad Request - Invalid TransactionType")),
        ({"CallBackURL": "mydomain.com/path"}, (400, "400.002.02", "Bad Request - Invalid CallBackURL")),
        ({"BusinessShortCode": "17437"}, (500, "500.001.1001", "Merchant does not exist")),
        ({"BusinessShortCode": "1743"}, (400, "400.002.02", "Bad Request - Invalid BusinessShortCode")),
        ({"Password": "d3Jvbmc="}, (500, "500.001.1001", "Wrong credentials")),
    ],
)
async def test_stk_field_rules(
    client: httpx.AsyncClient, changes: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    assert error(await stk(client, stk_body(**changes))) == expected


async def test_the_timestamp_must_be_the_passwords_and_kenyan(client: httpx.AsyncClient) -> None:
    other = stk_body()
    earlier = datetime.strptime(other["Timestamp"], "%Y%m%d%H%M%S") - timedelta(seconds=1)
    other["Timestamp"] = earlier.strftime("%Y%m%d%H%M%S")  # a real time, not the one in the Password
    assert error(await stk(client, other))[2] == "Wrong credentials"
    utc = datetime.now(UTC).strftime("%Y%m%d%H%M%S")  # three hours behind Kenya
    late = stk_body(Timestamp=utc, Password=password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, utc))
    assert error(await stk(client, late))[2] == "Bad Request - Invalid Timestamp"


async def test_a_wrong_content_type_is_invalid_business_shortcode(client: httpx.AsyncClient) -> None:
    bearer = f"Bearer {await token(client)}"
    answer = await client.post(
        STK,
        content=b"BusinessShortCode=174379",
        headers={"Authorization": bearer, "Content-Type": "text/plain"},
    )
    assert error(answer) == (400, "400.002.02", "Bad Request - Invalid BusinessShortCode")
    fetched = await client.get(STK, headers={"Authorization": bearer})
    assert error(fetched)[:2] == (405, "405.001")


async def test_a_till_push_names_the_till_as_party_b(
    served: tuple[MpesaSandbox, str], client: httpx.AsyncClient
) -> None:
    answer = await stk(client, stk_body(TransactionType="CustomerBuyGoodsOnline", PartyB="600000"))
    assert answer.status_code == 200
    assert served[0].stk[answer.json()["CheckoutRequestID"]].amount == 1


async def test_b2c_refuses_a_repeated_originator_id(
    served: tuple[MpesaSandbox, str], client: httpx.AsyncClient
) -> None:
    body = {
        "OriginatorConversationID": "600997_Test_32et3241ed8yu",
        "InitiatorName": "testapi",
        "SecurityCredential": served[0].security_credential(),
        "CommandID": "BusinessPayment",
        "Amount": "10",
        "PartyA": "600992",
        "PartyB": "254705912645",
        "Remarks": "remarked",
        "QueueTimeOutURL": "http://127.0.0.1:9/timeout",
        "ResultURL": "http://127.0.0.1:9/result",
        "Occassion": "ChristmasPay",
    }
    bearer = {"Authorization": f"Bearer {await token(client)}"}
    first = await client.post("/mpesa/b2c/v3/paymentrequest", json=body, headers=bearer)
    assert first.json()["ResponseCode"] == "0"
    assert first.json()["OriginatorConversationID"] == body["OriginatorConversationID"]
    again = await client.post("/mpesa/b2c/v3/paymentrequest", json=body, headers=bearer)
    assert error(again) == (500, "500.002.1001", "Duplicate OriginatorConversationID.")
    short = await client.post(
        "/mpesa/b2c/v3/paymentrequest",
        json={**body, "OriginatorConversationID": "x2", "Remarks": "r"},
        headers=bearer,
    )
    assert error(short)[2] == "Bad Request - Invalid Remarks"
