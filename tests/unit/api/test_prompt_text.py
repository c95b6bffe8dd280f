"""What moderation reads of a prompt (`avatar_api.domain.prompt_text`): the cut at CLIP's 77 tokens checked
against transformers' own CLIPTokenizer (the class the pipelines use, so its normaliser and pre-tokenizer),
and the normal forms the deny list and Comprehend see."""

from __future__ import annotations

import random

import pytest
from transformers import CLIPTokenizer

from avatar_api.domain.prompt_text import CLIP_TEXT_TOKENS, model_prefix, normalized, skeleton
from random_sd.tokenizer import build_tokenizer

WORDS = "a photo of portrait person naked in the style hat beach don't we'll it's".split()


def read_end(tokenizer: CLIPTokenizer, text: str) -> int:
    """Where in `text` the last character the text encoder reads ends."""
    encoded = tokenizer(text, truncation=True, max_length=77, return_offsets_mapping=True)
    return max((end for start, end in encoded["offset_mapping"] if end > start), default=0)


@pytest.fixture(scope="module")
def tokenizer() -> CLIPTokenizer:
    # Its pre-tokens one token each: the words, their contractions' two halves, the punctuation.
    return build_tokenizer([*WORDS, "don", "we", "it", "'t", "'ll", "'s", ",", "."])


def test_the_cut_is_exactly_where_the_model_stops_when_every_word_is_one_token(
    tokenizer: CLIPTokenizer,
) -> None:
    rng = random.Random(5)
    for _ in range(50):
        text = " ".join(rng.choice([*WORDS, ",", "."]) for _ in range(rng.randint(60, 120)))
        assert len(model_prefix(text)) == read_end(tokenizer, text), text


def test_the_cut_never_falls_before_what_the_model_reads(tokenizer: CLIPTokenizer) -> None:
    rng = random.Random(7)
    pieces = [*WORDS, "xq", "12", "  ", "!?", "_", "é", "½", "ﬁ", "日本", "\u200b", "I'M", "'S", "-"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(1, 160)))
        assert read_end(tokenizer, text) <= len(model_prefix(text)), text


def test_short_prompts_are_kept_whole() -> None:
    assert model_prefix("a photo of wud person on a beach") == "a photo of wud person on a beach"
    words = ["word"] * (CLIP_TEXT_TOKENS + 5)
    assert model_prefix(" ".join(words)) == " ".join(words[:CLIP_TEXT_TOKENS])


def test_normal_forms() -> None:
    assert normalized("ａ\u200b  ｐｈｏｔｏ\u00ad\tof 𝐤𝐢𝐥𝐥") == "a photo of kill"
    assert skeleton("Ａ phоtо of Näked ΡΕRSON") == "a photo of naked person"  # Cyrillic о, Greek Ρ Ε
