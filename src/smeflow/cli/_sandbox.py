"""``smeflow sandbox``: serve the provider sandboxes on loopback until interrupted."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console

from smeflow.connectors.sandbox import SandboxServer, builtin_sandboxes, smtp_sandbox

EMAIL = "email"


def serve_sandboxes(names: list[str], *, host: str, base_port: int, console: Console) -> int:
    """Start the sandboxes named (all of them when none is), print where they listen and their
    scenario controls, and block until Ctrl-C. Returns the exit code."""
    factories = builtin_sandboxes()
    known = [*factories, EMAIL]
    unknown = [name for name in names if name not in known]
    if unknown:
        console.print(
            f"[red]error:[/red] no sandbox named {', '.join(unknown)} (there are: {', '.join(known)})"
        )
        return 2
    running: list[Any] = []
    try:
        for offset, name in enumerate(names or known):
            port = base_port + offset if base_port else 0
            if name == EMAIL:
                smtp = smtp_sandbox(port).start()
                running.append(smtp)
                title, scenarios = smtp.title, smtp.scenarios
                where = f"smtp://{smtp.host}:{smtp.port} (user {smtp.username}, password {smtp.password})"
            else:
                server = SandboxServer(factories[name](), host=host, port=port)
                running.append(server)
                where = server.start()
                title, scenarios = server.sandbox.title, server.sandbox.scenarios
            console.print(f"[bold]{title}[/bold] sandbox ({name}): {where}", highlight=False)
            if scenarios:
                console.print(scenarios.strip(), highlight=False)
            console.print()
        console.print("Press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for item in running:
            item.stop()
    return 0


__all__ = ["serve_sandboxes"]
