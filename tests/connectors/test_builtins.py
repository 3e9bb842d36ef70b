"""The built-in connectors and sandboxes: all registered, all valid, all served by ``smeflow sandbox``."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from smeflow.connectors import default_registry
from smeflow.connectors.mpesa._sandbox_rules import SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET
from smeflow.connectors.sandbox import builtin_sandboxes, free_port
from smeflow.connectors.testing import declaration_problems

BUILTINS = ["africastalking", "api", "email", "flutterwave", "mpesa", "paystack", "whatsapp"]
#: the language-model connectors, served together by the ``llm`` sandbox (or none: no network)
LLM = ["anthropic", "google_genai", "openai", "openai_compatible"]


def test_every_builtin_connector_is_registered_and_valid() -> None:
    registry = default_registry()
    assert registry.keys() == sorted(BUILTINS + LLM)
    for connector in registry.all():
        assert declaration_problems(connector) == [], connector.key
    names = [a.name for c in registry.all() for a in type(c).actions()]
    assert len(names) == len(set(names))
    assert "http.request" not in names  # the engine's built-in keeps that name


def test_every_http_sandbox_has_documented_scenarios() -> None:
    sandboxes = builtin_sandboxes()
    # the email sandbox is SMTP; llm serves the OpenAI-compatible connectors
    assert set(sandboxes) == set(BUILTINS) - {"email"} | {"llm"}
    for key, factory in sandboxes.items():
        sandbox = factory()
        assert sandbox.key == key
        assert len(sandbox.scenarios) > 100, f"{key}: scenario controls are documented"


def test_smeflow_sandbox_serves_the_real_protocols_until_stopped() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smeflow", "sandbox", "mpesa", "paystack", "email", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        text = "".join(lines)
        assert re.search(rf"\(mpesa\): http://127\.0\.0\.1:{port}", text)
        assert f"smtp://127.0.0.1:{port + 2}" in text
        basic = base64.b64encode(f"{SANDBOX_CONSUMER_KEY}:{SANDBOX_CONSUMER_SECRET}".encode()).decode()
        token = httpx.get(
            f"http://127.0.0.1:{port}/oauth/v1/generate?grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}"},
        )
        assert token.status_code == 200, token.text
        assert token.json()["access_token"]
        refused = httpx.get(f"http://127.0.0.1:{port + 1}/balance", headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
