"""``smeflow sandbox``: serve the provider sandboxes on loopback until interrupted."""

from __future__ import annotations

import threading

from rich.console import Console

from smeflow.connectors.sandbox import SandboxServer, builtin_sandboxes


def serve_sandboxes(names: list[str], *, host: str, base_port: int, console: Console) -> int:
    """Start the sandboxes named (all of them when none is), print where they listen and their
    scenario controls, and block until Ctrl-C. Returns the exit code."""
    factories = builtin_sandboxes()
    unknown = [name for name in names if name not in factories]
    if unknown:
        console.print(
            f"[red]error:[/red] no sandbox named {', '.join(unknown)} (there are: {', '.join(factories)})"
        )
        return 2
    chosen = names or list(factories)
    servers: list[SandboxServer] = []
    try:
        for offset, name in enumerate(chosen):
            server = SandboxServer(factories[name](), host=host, port=base_port + offset if base_port else 0)
            servers.append(server)
            url = server.start()
            console.print(f"[bold]{server.sandbox.title}[/bold] sandbox ({name}): {url}", highlight=False)
            if server.sandbox.scenarios:
                console.print(server.sandbox.scenarios.strip(), highlight=False)
            console.print()
        if not servers:
            console.print("no sandboxes are installed")
            return 1
        console.print("Press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
    return 0


__all__ = ["serve_sandboxes"]
