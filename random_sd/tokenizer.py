"""A CLIP tokenizer defined in code (no download): what the random-weight pipelines ship, and what tests
that need CLIP's own tokenization of a few words build (transformers and tokenizers only, no torch)."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPTokenizer

MAX_LENGTH = 77  # CLIP's context, in tokens (the text encoders' positions are sized from it)
WORDS = (
    "a photo of person man woman face portrait sks in the style painting wearing hat smiling "
    "on beach at night with glasses astronaut space suit close up high quality"
).split()


def build_tokenizer(words: Iterable[str] = WORDS, vocab_size: int | None = None) -> CLIPTokenizer:
    """A byte-level BPE CLIP tokenizer in which each of `words` is one token (every other piece: bytes):
    every byte symbol, the words' merges, and (for the full-size architecture) filler entries up to
    `vocab_size`."""
    symbols = sorted(ByteLevel.alphabet())
    vocab: list[str] = [*symbols, *(s + "</w>" for s in symbols)]
    merges: list[tuple[str, str]] = []
    for word in words:  # merge each word left to right so that it becomes a single token
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            if (parts[0], parts[1]) not in merges:
                merges.append((parts[0], parts[1]))
            merged = parts[0] + parts[1]
            if merged not in vocab:
                vocab.append(merged)
            parts = [merged, *parts[2:]]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    if vocab_size is not None:
        vocab += [f"<|filler{i}|>" for i in range(vocab_size - len(vocab))]
    # transformers annotates merges as strings; its tokenizers BPE model takes the pairs themselves
    return CLIPTokenizer(
        vocab={tok: i for i, tok in enumerate(vocab)},
        merges=merges,  # type: ignore[arg-type]
        model_max_length=MAX_LENGTH,
    )
