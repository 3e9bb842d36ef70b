"""``MpesaSandbox``: Daraja on loopback (OAuth, STK Push/Query, C2B, B2C) with its callbacks."""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.mpesa import _sandbox_rules as rules
from smeflow.connectors.mpesa._daraja import password
from smeflow.connectors.mpesa._sandbox_core import (
    B2cPayment,
    C2bPayment,
    C2bRegistration,
    DarajaCore,
    Handler,
    StkPayment,
)


class MpesaSandbox(DarajaCore):
    """Safaricom Daraja, as a local server that keeps its rules (see ``scenarios``)."""

    key = "mpesa"
    title = "M-Pesa Daraja (Safaricom)"
    scenarios = f"""\
Credentials: consumer key {rules.SANDBOX_CONSUMER_KEY!r}, secret {rules.SANDBOX_CONSUMER_SECRET!r}
(Basic auth on GET /oauth/v1/generate?grant_type=client_credentials; expires_in "3599", a string).
Each new token invalidates the app's previous one; expire_tokens() invalidates them all;
script("access_token", "invalid", …) refuses the token of the next API calls (one per answer).
Lipa Na M-Pesa shortcode {rules.SANDBOX_SHORTCODE} with Daraja's public sandbox passkey (Password and
Timestamp checked: a wrong one is 500.001.1001 "Wrong credentials"; a Timestamp more than an hour
from Kenyan time is 400.002.02 "Invalid Timestamp"). B2C: initiator {rules.SANDBOX_INITIATOR!r},
SecurityCredential = security_credential() (RSA PKCS#1 v1.5 with the sandbox's own key); a wrong
one gives result 2001. Amounts are whole KES 1..250000; MSISDNs 2547XXXXXXXX / 2541XXXXXXXX.

STK magic amounts (KES) → callback ResultCode: 1001 → 1 (insufficient balance), 1017 → 17 (rule
limited), 1019 → 1019 (expired), 1025 → 1025 (push error), 1032 → 1032 (cancelled by user),
1037 → 1037 (phone unreachable), 2001 → 2001 (wrong PIN), 2028 → 2028 (not permitted); any other
amount succeeds. script("stk_result", CODE) forces the next push's code. A second push to a phone
whose push is pending is 500.001.1001 "Unable to lock subscriber".
B2C magic amounts → result ResultCode: 1001 → 1, 2001 → 2001, 2006 → 2006, 2040 → 2040,
8006 → 8006; script("b2c_result", CODE) forces the next one. A repeated OriginatorConversationID
is 500.002.1001 "Duplicate OriginatorConversationID.".

Callbacks go callback_delay seconds (default 0.05) after the answer. Per request, script(NAME, X)
with NAME "stk_callback", "b2c_callback" or "c2b_callback" (the confirmation) and X one of:
"drop" (the customer answers, the state changes, no callback is sent), "twice" (sent two times),
("delay", SECONDS); for STK and B2C also "hold" (pending until release(CheckoutRequestID or
OriginatorConversationID)); for B2C also "timeout" (a queue timeout posted to QueueTimeOutURL).
STK Query says "The transaction is being processed" (HTTP 500, 500.001.1001) while pending (or,
with pending_as_result, ResultCode "4999" "The transaction is still under processing") and the
callback's ResultCode after; a dropped callback's payment still settles, so a query reconciles it.
C2B: registerurl and simulate on v1 and v2 (v2 masks the MSISDN, v1 sends it whole); simulate
POSTs the validation URL (c2b_external_validation, default on), then, if it accepted (or did not
answer and ResponseType is Completed), the confirmation URL. URLs with M-PESA/mpesa/Safaricom/exe/
cmd/sql/query are refused. calls records every request; callbacks.sent every callback.
"""

    def routes(self) -> list[BaseRoute]:
        api: list[tuple[str, Handler, str]] = [
            ("/mpesa/stkpush/v1/processrequest", self._stk_push, "404.001.03"),
            ("/mpesa/stkpushquery/v1/query", self._stk_query, "404.001.03"),
            ("/mpesa/b2c/v3/paymentrequest", self._b2c_payment, "404.001.03"),
        ]
        for version in ("v1", "v2"):
            api.append((f"/mpesa/c2b/{version}/registerurl", self._c2b_register, "400.003.01"))
            api.append((f"/mpesa/c2b/{version}/simulate", self._c2b_simulate, "400.003.01"))
        routes: list[BaseRoute] = [Route("/oauth/v1/generate", self._oauth, methods=["GET", "POST"])]
        for path, handler, token_code in api:
            routes.append(Route(path, self._api(handler, token_code), methods=["GET", "POST", "PUT"]))
        return routes

    def release(self, reference: str, *, times: int = 1) -> None:
        """Let a held STK push (CheckoutRequestID) or B2C payout (OriginatorConversationID)
        finish now; callable from any thread."""
        if reference in self.stk:
            coroutine = self._finish_stk(self.stk[reference], times, 0.0)
        else:
            coroutine = self._finish_b2c(self.b2c[reference], times, 0.0, "normal")
        assert self._loop is not None, "the sandbox is not serving"
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # --- STK Push and Query ---------------------------------------------------------------

    def _stk_auth(self, body: dict[str, Any]) -> str:
        shortcode = rules.check_shortcode(body.get("BusinessShortCode"))
        passkey = self.passkeys.get(shortcode)
        if passkey is None:
            raise rules.DarajaError(500, "500.001.1001", "Merchant does not exist")
        stamp = rules.check_timestamp(body.get("Timestamp"), tolerance_seconds=self.timestamp_tolerance)
        given = body.get("Password")
        if not isinstance(given, str) or not secrets.compare_digest(
            given, password(shortcode, passkey, stamp)
        ):
            raise rules.DarajaError(500, "500.001.1001", "Wrong credentials")
        return shortcode

    async def _stk_push(self, request: Request, body: dict[str, Any]) -> Response:
        shortcode = self._stk_auth(body)
        kind = body.get("TransactionType")
        if kind not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            raise rules.invalid("TransactionType")
        amount = rules.check_amount(body.get("Amount"))
        party_a = rules.check_msisdn(body.get("PartyA"), "PartyA")
        phone = rules.check_msisdn(body.get("PhoneNumber"), "PhoneNumber")
        party_b = rules.check_shortcode(body.get("PartyB"), "PartyB")
        if kind == "CustomerPayBillOnline" and party_b != shortcode:
            raise rules.invalid("PartyB")
        callback_url = rules.check_url(body.get("CallBackURL"), "CallBackURL")
        reference = rules.check_text(body.get("AccountReference"), "AccountReference", 1, 12)
        rules.check_text(body.get("TransactionDesc"), "TransactionDesc", 1, 13, optional=True)
        if any(p.phone == phone and p.result_code is None for p in self.stk.values()):
            raise rules.DarajaError(
                500,
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            )
        forced = self.scripted("stk_result")
        payment = StkPayment(
            checkout_request_id=rules.checkout_request_id(),
            merchant_request_id=rules.merchant_request_id(),
            shortcode=shortcode,
            amount=amount,
            phone=party_a if party_a == phone else phone,
            account_reference=reference,
            callback_url=callback_url,
            planned_code=int(forced) if forced is not None else rules.STK_MAGIC.get(amount, 0),
        )
        self.stk[payment.checkout_request_id] = payment
        times, delay, mode = self._control("stk_callback")
        if mode != "hold":
            self._spawn(self._finish_stk(payment, times, delay))
        return JSONResponse(
            {
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing",
            }
        )

    async def _finish_stk(self, payment: StkPayment, times: int, delay: float) -> None:
        """The customer answers (after ``delay``): the state is settled, the callback sent."""
        if delay:
            await asyncio.sleep(delay)
        if payment.result_code is not None:
            return
        payment.result_code = payment.planned_code
        payment.receipt = rules.receipt() if payment.planned_code == 0 else None
        body = rules.stk_callback(
            merchant=payment.merchant_request_id,
            checkout=payment.checkout_request_id,
            code=payment.result_code,
            amount=payment.amount,
            phone=payment.phone,
            receipt_no=payment.receipt or "",
            at=rules.eat_now(),
        )
        self._send(payment.callback_url, body, times)

    async def _stk_query(self, request: Request, body: dict[str, Any]) -> Response:
        shortcode = self._stk_auth(body)
        payment = self.stk.get(str(body.get("CheckoutRequestID", "")))
        if payment is None or payment.shortcode != shortcode:
            raise rules.invalid("CheckoutRequestID")
        if payment.result_code is None and self.pending_as_result:
            return JSONResponse(
                {
                    "ResponseCode": "0",
                    "ResponseDescription": "The service request has been accepted successfully",
                    "MerchantRequestID": payment.merchant_request_id,
                    "CheckoutRequestID": payment.checkout_request_id,
                    "ResultCode": "4999",
                    "ResultDesc": "The transaction is still under processing",
                }
            )
        if payment.result_code is None:
            return JSONResponse(
                {
                    "requestId": payment.checkout_request_id,
                    "errorCode": "500.001.1001",
                    "errorMessage": "The transaction is being processed",
                },
                status_code=500,
            )
        return JSONResponse(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successfully",
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": str(payment.result_code),
                "ResultDesc": rules.RESULT_DESCRIPTIONS.get(payment.result_code, "The request failed."),
            }
        )

    # --- C2B ------------------------------------------------------------------------------

    async def _c2b_register(self, request: Request, body: dict[str, Any]) -> Response:
        shortcode = rules.check_shortcode(body.get("ShortCode"), "ShortCode")
        response_type = body.get("ResponseType")
        if response_type not in ("Completed", "Cancelled"):
            raise rules.invalid("ResponseType")
        confirmation = rules.check_url(body.get("ConfirmationURL"), "ConfirmationURL", c2b=True)
        validation = rules.check_url(body.get("ValidationURL"), "ValidationURL", c2b=True)
        version = request.url.path.split("/")[3]
        self.c2b_urls[shortcode] = C2bRegistration(confirmation, validation, str(response_type), version)
        return JSONResponse(
            {
                "OriginatorCoversationID": rules.request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            }
        )

    async def _c2b_simulate(self, request: Request, body: dict[str, Any]) -> Response:
        shortcode = rules.check_shortcode(body.get("ShortCode"), "ShortCode")
        registration = self.c2b_urls.get(shortcode)
        if registration is None:
            raise rules.invalid("ShortCode")
        command = body.get("CommandID")
        if command not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            raise rules.invalid("CommandID")
        amount = rules.check_amount(body.get("Amount"))
        msisdn = rules.check_msisdn(body.get("Msisdn"), "Msisdn")
        bill_ref = str(body.get("BillRefNumber") or "")
        payment = C2bPayment(trans_id=rules.receipt(), shortcode=shortcode, amount=amount)
        self.c2b[payment.trans_id] = payment
        times, delay, _mode = self._control("c2b_callback")
        fields = {
            "trans_id": payment.trans_id,
            "command": str(command),
            "amount": amount,
            "shortcode": shortcode,
            "bill_ref": bill_ref,
            "msisdn": msisdn,
            "masked": registration.version == "v2",
        }
        self._spawn(self._c2b_flow(payment, registration, fields, times, delay))
        return JSONResponse(
            {
                "OriginatorCoversationID": rules.request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    async def _c2b_flow(
        self,
        payment: C2bPayment,
        registration: C2bRegistration,
        fields: dict[str, Any],
        times: int,
        delay: float,
    ) -> None:
        """Validation (its answer decides), then the confirmation."""
        if delay:
            await asyncio.sleep(delay)
        if self.c2b_external_validation:
            body = rules.c2b_body(**fields, balance="", third_party="", at=rules.eat_now())
            reply = await self._post_for_reply(registration.validation_url, body)
            payment.validation_reply = reply
            if reply is None:
                if registration.response_type == "Cancelled":
                    payment.status = "cancelled"
                    return
            elif str(reply.get("ResultCode")) != "0":
                payment.status = "rejected"
                return
            else:
                payment.third_party = str(reply.get("ThirdPartyTransID") or "")
        self.balances[payment.shortcode] = self.balances.get(payment.shortcode, 0) + payment.amount
        balance = f"{self.balances[payment.shortcode]}.00"
        body = rules.c2b_body(**fields, balance=balance, third_party=payment.third_party, at=rules.eat_now())
        payment.status = "confirmed"
        self._send(registration.confirmation_url, body, times)

    # --- B2C ------------------------------------------------------------------------------

    def security_credential(self, initiator_password: str | None = None) -> str:
        """A SecurityCredential the sandbox accepts (its own key pair stands in for Safaricom's)."""
        if self._key is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        secret = (initiator_password or self.initiator_password).encode()
        return base64.b64encode(self._key.public_key().encrypt(secret, padding.PKCS1v15())).decode()

    def _credential_ok(self, name: Any, credential: Any) -> bool:
        if name != self.initiator_name or not isinstance(credential, str) or self._key is None:
            return False
        try:
            plain = self._key.decrypt(base64.b64decode(credential, validate=True), padding.PKCS1v15())
        except (ValueError, binascii.Error):
            return False
        return secrets.compare_digest(plain, self.initiator_password.encode())

    async def _b2c_payment(self, request: Request, body: dict[str, Any]) -> Response:
        originator = rules.check_text(
            body.get("OriginatorConversationID"), "OriginatorConversationID", 1, 100
        )
        if originator in self.b2c:
            raise rules.DarajaError(500, "500.002.1001", "Duplicate OriginatorConversationID.")
        if body.get("CommandID") not in ("SalaryPayment", "BusinessPayment", "PromotionPayment"):
            raise rules.invalid("CommandID")
        amount = rules.check_amount(body.get("Amount"))
        rules.check_shortcode(body.get("PartyA"), "PartyA")
        phone = rules.check_msisdn(body.get("PartyB"), "PartyB")
        rules.check_text(body.get("Remarks"), "Remarks", 2, 100)
        rules.check_text(body.get("Occassion"), "Occassion", 1, 100, optional=True)
        timeout_url = rules.check_url(body.get("QueueTimeOutURL"), "QueueTimeOutURL")
        result_url = rules.check_url(body.get("ResultURL"), "ResultURL")
        forced = self.scripted("b2c_result")
        if not self._credential_ok(body.get("InitiatorName"), body.get("SecurityCredential")):
            planned = 2001
        else:
            planned = int(forced) if forced is not None else rules.B2C_MAGIC.get(amount, 0)
        payment = B2cPayment(
            originator, rules.conversation_id(), amount, phone, result_url, timeout_url, planned
        )
        self.b2c[originator] = payment
        times, delay, mode = self._control("b2c_callback")
        if mode != "hold":
            self._spawn(self._finish_b2c(payment, times, delay, mode))
        return JSONResponse(
            {
                "ConversationID": payment.conversation_id,
                "OriginatorConversationID": originator,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    async def _finish_b2c(self, payment: B2cPayment, times: int, delay: float, mode: str) -> None:
        if delay:
            await asyncio.sleep(delay)
        if payment.result_code is not None:
            return
        if mode == "timeout":
            payment.result_code = 1
            body = rules.b2c_result(
                originator=payment.originator_conversation_id,
                conversation=payment.conversation_id,
                code=1,
                amount=payment.amount,
                phone=payment.phone,
                receipt_no="",
                at=rules.eat_now(),
            )
            body["Result"]["ResultDesc"] = "The request timed out in the queue."
            self._send(payment.timeout_url, body, times)
            return
        payment.result_code = payment.planned_code
        payment.receipt = rules.receipt()
        body = rules.b2c_result(
            originator=payment.originator_conversation_id,
            conversation=payment.conversation_id,
            code=payment.result_code,
            amount=payment.amount,
            phone=payment.phone,
            receipt_no=payment.receipt,
            at=rules.eat_now(),
        )
        self._send(payment.result_url, body, times)


__all__ = ["MpesaSandbox"]
