"""Intent matching: accuracy on labelled messages in 14 languages, meaningful confidence,
and examples templates can extend."""

from __future__ import annotations

from collections import Counter

import pytest

from smeflow.understanding import (
    IntentMatch,
    IntentModel,
    default_examples,
    default_examples_by_language,
    merge_examples,
    normalize,
)

from .labelled import labelled_messages

DEFAULT_INTENTS = {
    "book",
    "reschedule",
    "cancel",
    "price",
    "pay",
    "human",
    "greeting",
    "opt_out",
    "thanks",
    "yes",
    "no",
}
LANGUAGES = {"en", "sw", "ha", "yo", "ig", "pcm", "zu", "xh", "af", "am", "so", "fr", "pt", "ar"}
MESSAGES = labelled_messages()


def test_the_labelled_messages_are_enough_and_cover_the_languages_and_intents() -> None:
    assert len(MESSAGES) >= 300
    per_language = Counter(language for language, _, _ in MESSAGES)
    assert set(per_language) == LANGUAGES
    assert min(per_language.values()) >= 22
    assert {intent for _, _, intent in MESSAGES} == DEFAULT_INTENTS
    for language in LANGUAGES:
        covered = {intent for lang, _, intent in MESSAGES if lang == language}
        assert covered >= {"book", "reschedule", "cancel", "price", "pay", "human", "greeting", "opt_out"}


def test_no_labelled_message_is_a_shipped_example() -> None:
    shipped = {normalize(text) for texts in default_examples().values() for text in texts}
    copies = [text for _, text, _ in MESSAGES if normalize(text) in shipped]
    assert copies == []


def test_no_labelled_message_is_a_near_copy_of_a_shipped_example() -> None:
    # Same words in the same order bar one or two: a near-copy, which would flatter accuracy.
    shipped = [normalize(text).split() for texts in default_examples().values() for text in texts]
    near = []
    for _, text, _ in MESSAGES:
        words = normalize(text).split()
        for example in shipped:
            common = len(set(words) & set(example))
            if len(words) >= 3 and common >= max(len(words), len(example)) - 1:
                near.append((text, " ".join(example)))
    assert near == []


def test_shipped_examples_cover_every_intent_in_every_language() -> None:
    by_language = default_examples_by_language()
    assert set(by_language) == DEFAULT_INTENTS
    for intent, languages in by_language.items():
        assert set(languages) == LANGUAGES, intent
        assert all(len(texts) >= 3 for texts in languages.values()), intent


@pytest.fixture(scope="module")
def matches(model: IntentModel) -> list[tuple[str, str, IntentMatch]]:
    """``(language, gold intent, match)`` for every labelled message."""
    return [(language, intent, model.match(text, language=language)) for language, text, intent in MESSAGES]


def test_accuracy_on_the_labelled_messages(matches: list[tuple[str, str, IntentMatch]]) -> None:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong = []
    for (language, intent, match), (_, text, _) in zip(matches, MESSAGES, strict=True):
        best = max(match.scores, key=lambda k: match.scores[k])
        total[language] += 1
        if best == intent:
            right[language] += 1
        else:
            wrong.append(f"{language}: {text!r} is {intent}, matched {best}")
    per_language = {language: right[language] / total[language] for language in sorted(total)}
    overall = sum(right.values()) / sum(total.values())
    report = f"overall {overall:.1%}; " + ", ".join(f"{k} {v:.0%}" for k, v in per_language.items())
    assert overall >= 0.90, report + "\n" + "\n".join(wrong)
    assert min(per_language.values()) >= 0.80, report + "\n" + "\n".join(wrong)


def test_confidence_separates_right_from_wrong(matches: list[tuple[str, str, IntentMatch]]) -> None:
    right = sorted(match.confidence for _, intent, match in matches if match.intent == intent)
    wrong = [match.confidence for _, intent, match in matches if match.intent != intent]
    assert right[len(right) // 2] >= 0.8  # the median right answer is confident
    assert sum(right) / len(right) - sum(wrong) / max(len(wrong), 1) > 0.3
    # at an escalation threshold of 0.5, most right answers go through and most wrong ones do not
    assert sum(c >= 0.5 for c in right) / len(right) >= 0.85
    assert sum(c >= 0.5 for c in wrong) <= len(wrong) / 2


@pytest.mark.parametrize(
    "text",
    [
        "the capital of France is Paris",
        "8471 2290 5531",
        "photosynthesis turns light into chemical energy",
        "my cat likes fish",
        "asdkjh qwe zzz",
        "who won the football match yesterday?",
    ],
)
def test_out_of_scope_text_has_low_confidence(model: IntentModel, text: str) -> None:
    match = model.match(text)
    assert match.confidence < 0.2
    assert match.intent is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [("STOP", "opt_out"), ("BOOK", "book"), ("cancel", "cancel"), ("yes", "yes"), ("asante sana", "thanks")],
)
def test_command_words_are_certain(model: IntentModel, text: str, intent: str) -> None:
    match = model.match(text)
    assert match.intent == intent
    assert match.confidence >= 0.9
    assert match.runner_up != intent


def test_a_greeting_in_front_of_a_request_does_not_hide_it(model: IntentModel) -> None:
    assert model.core_text("sawubona, ngifuna ukukhansela i-appointment kusasa") == (
        "ngifuna ukukhansela i-appointment kusasa"
    )
    assert model.core_text("hello, how are you?") == "hello, how are you?"
    assert model.match("hello, I want to cancel my appointment").intent == "cancel"


def test_empty_text_has_no_intent(model: IntentModel) -> None:
    match = model.match("  ...  ")
    assert match.intent is None
    assert match.confidence == 0.0


def test_scores_cover_every_intent(model: IntentModel) -> None:
    match = model.match("nataka ku-book kesho")
    assert set(match.scores) == DEFAULT_INTENTS
    assert match.intent == "book"
    assert 0.0 <= match.confidence <= 1.0


def test_templates_add_their_own_examples_and_intents() -> None:
    extra = {"track_order": ["where is my order?", "oda yangu iko wapi?", "my parcel never came"]}
    examples = merge_examples(default_examples(), extra, {"book": ["nataka kupaka hina"]})
    assert examples["track_order"] == tuple(extra["track_order"])
    assert examples["book"][-1] == "nataka kupaka hina"
    assert examples["book"][:-1] == merge_examples(default_examples())["book"]
    model = IntentModel.from_examples(examples)
    assert model.match("has my order shipped yet?").intent == "track_order"


def test_merge_examples_keeps_order_and_drops_repeats() -> None:
    assert merge_examples({"a": ["x", "y"]}, {"a": ["y", "z"], "b": ["w"]}) == {
        "a": ("x", "y", "z"),
        "b": ("w",),
    }


def test_a_model_needs_examples() -> None:
    with pytest.raises(ValueError, match="at least one example"):
        IntentModel.from_examples({"book": ["  "]})


def test_default_examples_can_be_limited_to_the_tenants_languages() -> None:
    swahili = default_examples(["sw"])
    assert "nataka kubook" in swahili["book"]
    assert "I want to book an appointment" not in swahili["book"]


def test_a_long_message_is_embedded_in_part_but_read_whole(model: IntentModel) -> None:
    filler = "so yesterday my sister and I were talking about the wedding and the dresses and the food " * 2
    match = model.match(filler + "anyway please cancel my appointment on Friday")
    assert match.intent == "cancel"


def test_template_examples_embed_only_what_they_add(
    model: IntentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smeflow.understanding import _embeddings

    embedded: list[str] = []
    real = _embeddings.embed

    def counting(texts: list[str]) -> object:
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(_embeddings, "embed", counting)
    IntentModel.from_examples(merge_examples(default_examples(), {"book": ["nataka kusuka twists kesho"]}))
    assert embedded == ["nataka kusuka twists kesho"]
