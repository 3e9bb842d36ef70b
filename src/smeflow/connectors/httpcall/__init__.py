"""The generic HTTP connector (key ``api``; the package is ``httpcall`` so that it never shadows
the standard library's ``http``) and a small echo sandbox.

Key contracts:

* Calls go only to paths under the integration's ``base_url`` (a path, never a full URL), so the
  credentials are sent nowhere else; credentials never come from an action's input or the
  config's default headers (``Authorization``/``Cookie`` there are refused).
* ``api.get`` is a read (retried on network failures and 5xx); ``api.request`` is a write
  (POST/PUT/PATCH/DELETE, sent once, with the step's ``Idempotency-Key`` header).
* Answers: 2xx → status + JSON (or text) body; 401/403 → :class:`~smeflow.connectors.AuthFailed`;
  other 4xx → :class:`~smeflow.connectors.Rejected`; 5xx →
  :class:`~smeflow.connectors.Unavailable`; the status is the ``provider_code``.
"""

from smeflow.connectors.httpcall._connector import (
    GetIn,
    Http,
    HttpConfig,
    HttpCredentials,
    HttpOut,
    RequestIn,
)
from smeflow.connectors.httpcall._sandbox import HttpEchoSandbox

__all__ = ["GetIn", "Http", "HttpConfig", "HttpCredentials", "HttpEchoSandbox", "HttpOut", "RequestIn"]
