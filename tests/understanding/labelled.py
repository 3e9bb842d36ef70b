"""The labelled customer messages of ``tests/data/intents/<language>.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "intents"


def labelled_messages() -> list[tuple[str, str, str]]:
    """``(language, text, intent)`` for every line of ``tests/data/intents/<language>.jsonl``."""
    out = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((path.stem, row["text"], row["intent"]))
    return out
