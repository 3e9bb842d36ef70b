"""The M-Pesa sandbox's rules and payloads: test credentials, magic amounts, field checks, ids and
the bodies of Daraja's callbacks (protocols §1.2 to §1.10)."""

from __future__ import annotations

import random
import re
import string
from datetime import datetime
from typing import Any

from smeflow.connectors.mpesa._daraja import EAT, MSISDN, TIMESTAMP_FORMAT

SANDBOX_CONSUMER_KEY = "sandbox-consumer-key-0001"
SANDBOX_CONSUMER_SECRET = "sandbox-consumer-secret-0001"  # noqa: S105 (a sandbox test value)
#: Daraja's public Lipa Na M-Pesa sandbox shortcode and passkey (protocols §1.3, §1.10)
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SANDBOX_B2C_SHORTCODE = "600992"
SANDBOX_INITIATOR = "testapi"
SANDBOX_INITIATOR_PASSWORD = "Safaricom999!*!"  # noqa: S105 (a sandbox test value)
TEST_MSISDN = "254708374149"

MIN_AMOUNT, MAX_AMOUNT = 1, 250_000
SHORTCODE = re.compile(r"^\d{5,7}$")
_FORBIDDEN_URL_WORDS = re.compile(r"m-?pesa|safaricom|exe|cmd|sql|query", re.IGNORECASE)
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

#: STK magic amounts (whole KES) → the ResultCode of the customer's answer; any other amount succeeds
STK_MAGIC: dict[int, int] = {
    1001: 1,
    1017: 17,
    1019: 1019,
    1025: 1025,
    1032: 1032,
    1037: 1037,
    2001: 2001,
    2028: 2028,
}
#: B2C magic amounts → the result's ResultCode
B2C_MAGIC: dict[int, int] = {1001: 1, 2001: 2001, 2006: 2006, 2040: 2040, 8006: 8006}
RESULT_DESCRIPTIONS: dict[int, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    17: "Rule limited.",
    1019: "Transaction has expired.",
    1025: "An error occurred while sending a push request.",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
    2001: "The initiator information is invalid.",
    2006: "Declined due to account rule: The account status does not allow this transaction.",
    2028: "The request is not permitted according to product assignment.",
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported "
    "by the service.",
    8006: "The security credential is locked.",
}


class DarajaError(Exception):
    """A Daraja error answer: HTTP ``status`` with ``{"requestId", "errorCode", "errorMessage"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(field: str) -> DarajaError:
    """Daraja's answer to a bad field: ``400.002.02 Bad Request - Invalid <field>``."""
    return DarajaError(400, "400.002.02", f"Bad Request - Invalid {field}")


def eat_now() -> datetime:
    return datetime.now(EAT)


def check_timestamp(value: Any, *, tolerance_seconds: float) -> str:
    """A ``YYYYMMDDHHmmss`` Kenyan-time timestamp within the tolerance of now."""
    text = str(value) if isinstance(value, str | int) else ""
    try:
        when = datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=EAT)
    except ValueError:
        raise invalid("Timestamp") from None
    if abs((when - eat_now()).total_seconds()) > tolerance_seconds:
        raise invalid("Timestamp")
    return text


def check_amount(value: Any) -> int:
    """A whole number of shillings in 1..250,000 (an int or a string of digits)."""
    if isinstance(value, bool):
        raise invalid("Amount")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if isinstance(value, int | str) else ""
    if not text.isdigit() or not MIN_AMOUNT <= int(text) <= MAX_AMOUNT:
        raise invalid("Amount")
    return int(text)


def check_msisdn(value: Any, field: str) -> str:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not MSISDN.match(text):
        raise invalid(field)
    return text


def check_shortcode(value: Any, field: str = "BusinessShortCode") -> str:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not SHORTCODE.match(text):
        raise invalid(field)
    return text


def check_url(value: Any, field: str, *, c2b: bool = False) -> str:
    if not isinstance(value, str) or not _URL.match(value) or (c2b and _FORBIDDEN_URL_WORDS.search(value)):
        raise invalid(field)
    return value


def check_text(value: Any, field: str, low: int, high: int, *, optional: bool = False) -> str:
    if optional and (value is None or value == ""):
        return ""
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise invalid(field)
    return value


def _digits(n: int) -> str:
    return "".join(random.choices(string.digits, k=n))  # noqa: S311 (test ids, not secrets)


def receipt() -> str:
    """An M-Pesa receipt number: 10 upper-case letters and digits, starting with letters."""
    letters = "".join(random.choices(string.ascii_uppercase, k=3))  # noqa: S311
    return letters + "".join(random.choices(string.ascii_uppercase + string.digits, k=7))  # noqa: S311


def checkout_request_id() -> str:
    return "ws_CO_" + eat_now().strftime("%d%m%Y%H%M%S%f")[:17] + _digits(9)


def merchant_request_id() -> str:
    return f"{_digits(5)}-{_digits(8)}-1"


def conversation_id() -> str:
    return f"AG_{eat_now():%Y%m%d}_" + "".join(random.choices("0123456789abcdef", k=20))  # noqa: S311


def request_id() -> str:
    return f"{_digits(4)}-{_digits(4)}-{_digits(8)}"


def stk_callback(
    *, merchant: str, checkout: str, code: int, amount: int, phone: str, receipt_no: str, at: datetime
) -> dict[str, Any]:
    """The STK callback body (the metadata, with a value-less ``Balance``, only on success)."""
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant,
        "CheckoutRequestID": checkout,
        "ResultCode": code,
        "ResultDesc": RESULT_DESCRIPTIONS.get(code, "The request failed."),
    }
    if code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": float(amount)},
                {"Name": "MpesaReceiptNumber", "Value": receipt_no},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(at.astimezone(EAT).strftime(TIMESTAMP_FORMAT))},
                {"Name": "PhoneNumber", "Value": int(phone)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def b2c_result(
    *, originator: str, conversation: str, code: int, amount: int, phone: str, receipt_no: str, at: datetime
) -> dict[str, Any]:
    """The B2C result body (``ResultParameters`` only on success)."""
    result: dict[str, Any] = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": RESULT_DESCRIPTIONS.get(code, "The request failed."),
        "OriginatorConversationID": originator,
        "ConversationID": conversation,
        "TransactionID": receipt_no,
    }
    if code == 0:
        result["ResultParameters"] = {
            "ResultParameter": [
                {"Key": "TransactionAmount", "Value": amount},
                {"Key": "TransactionReceipt", "Value": receipt_no},
                {"Key": "ReceiverPartyPublicName", "Value": f"{phone} - JOHN DOE"},
                {
                    "Key": "TransactionCompletedDateTime",
                    "Value": at.astimezone(EAT).strftime("%d.%m.%Y %H:%M:%S"),
                },
                {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
                {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1199371.00},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -1980.00},
            ]
        }
    result["ReferenceData"] = {
        "ReferenceItem": {
            "Key": "QueueTimeoutURL",
            "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
        }
    }
    return {"Result": result}


def c2b_body(
    *,
    trans_id: str,
    command: str,
    amount: int,
    shortcode: str,
    bill_ref: str,
    msisdn: str,
    balance: str,
    third_party: str,
    masked: bool,
    at: datetime,
) -> dict[str, Any]:
    """A C2B validation/confirmation body: every value a string, the MSISDN masked on v2."""
    return {
        "TransactionType": "Buy Goods" if command == "CustomerBuyGoodsOnline" else "Pay Bill",
        "TransID": trans_id,
        "TransTime": at.astimezone(EAT).strftime(TIMESTAMP_FORMAT),
        "TransAmount": f"{amount}.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": balance,
        "ThirdPartyTransID": third_party,
        "MSISDN": f"{msisdn[:4]} ***** {msisdn[-3:]}" if masked else msisdn,
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }


__all__ = [
    "B2C_MAGIC",
    "MAX_AMOUNT",
    "MIN_AMOUNT",
    "RESULT_DESCRIPTIONS",
    "SANDBOX_B2C_SHORTCODE",
    "SANDBOX_CONSUMER_KEY",
    "SANDBOX_CONSUMER_SECRET",
    "SANDBOX_INITIATOR",
    "SANDBOX_INITIATOR_PASSWORD",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORTCODE",
    "STK_MAGIC",
    "TEST_MSISDN",
    "DarajaError",
    "b2c_result",
    "c2b_body",
    "check_amount",
    "check_msisdn",
    "check_shortcode",
    "check_text",
    "check_timestamp",
    "check_url",
    "checkout_request_id",
    "conversation_id",
    "eat_now",
    "invalid",
    "merchant_request_id",
    "receipt",
    "request_id",
    "stk_callback",
]
