"""What content moderation reads of a prompt (docs/moderation.md, "What is moderated"): the part of the
rendered prompt the text encoder reads, normalised.

- `model_prefix`: Stable Diffusion's CLIP tokenizer keeps 77 tokens (75 of text between its start and end
  tokens) and drops the rest, so text past that never reaches the model, and a moderated text padded
  with harmless words past it would only dilute the classifier's score. The Lambda functions do not
  carry the tokenizer (transformers, tokenizers and the 1.6 MB vocabulary), so the cut is computed
  with CLIP's own pre-tokenizer rule (its regular expression, as in `transformers`' CLIPTokenizer):
  every pre-token becomes at least one BPE token, so the first 75 pre-tokens always hold every token
  the model reads. The approximation can only moderate more than the model reads (a few words past
  its cut), never less.
- `normalized`: Unicode NFKC (fullwidth, mathematical and ligature letters become plain ones), format
  characters removed (zero-width spaces and joiners, soft hyphens, direction marks), whitespace
  collapsed: what Comprehend is sent.
- `skeleton`: `normalized`, case-folded, accents dropped, look-alike Cyrillic and Greek letters mapped to
  the Latin ones: what the deny list is matched against, letters with or without separators between
  them (`deny_list_pattern`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

CLIP_MAX_TOKENS: Final = 77  # the tokenizer's model_max_length (SD 1.x, 2.x and both SDXL encoders)
CLIP_TEXT_TOKENS: Final = CLIP_MAX_TOKENS - 2  # less its start and end tokens

# CLIP's pre-tokenizer, `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
# [^\s\p{L}\p{N}]+`, in Python's `re` (case-insensitive: CLIP lower-cases before it splits). `re` has
# no \p{L}: `[^\W\d_]` is letters plus the numerics that are not decimal digits (one piece where CLIP
# may see several, which only moves the cut later); `(?:[^\s\w]|_)` is what is neither whitespace,
# letter nor number, as CLIP's last class.
_PRE_TOKEN = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")
# Latin look-alikes that NFKC leaves alone (Cyrillic and Greek letters that render like Latin ones).
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
        "ӏ": "l", "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g", "α": "a", "β": "b", "ε": "e", "η": "n",
        "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ѡ": "w",
    }
)  # fmt: skip
_SEPARATORS = r"[\W_]*"  # between the letters of a deny-list term: spaces, dots, dashes, underscores


def model_prefix(prompt: str, max_tokens: int = CLIP_TEXT_TOKENS) -> str:
    """`prompt` up to the end of its `max_tokens`-th CLIP pre-token: at least everything the text encoder
    reads of it (it reads `max_tokens` BPE tokens, and each pre-token is one or more of them)."""
    end = 0
    for count, match in enumerate(_PRE_TOKEN.finditer(prompt), start=1):
        end = match.end()
        if count == max_tokens:
            break
    else:
        return prompt
    return prompt[:end]


def normalized(text: str) -> str:
    """NFKC, without format characters (zero-width and direction marks, soft hyphens), whitespace
    collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return _WHITESPACE.sub(" ", text).strip()


def skeleton(text: str) -> str:
    """`normalized(text)` case-folded, without accents and with Latin letters for look-alikes."""
    decomposed = unicodedata.normalize("NFKD", normalized(text).casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", plain.translate(_CONFUSABLES))


def moderated_text(prompt: str) -> str:
    """What Comprehend is sent for a rendered prompt: the part the model reads, normalised."""
    return normalized(model_prefix(prompt))


@functools.lru_cache(maxsize=1024)
def deny_list_pattern(entry: str) -> re.Pattern[str] | None:
    """The pattern of one deny-list entry on a `skeleton`: `/regex/` as written (case-insensitive); a
    term of letters, digits and spaces as its letters with any separators between them, as a whole word
    (`naked` finds `N A K E D`, `n.a.k.e.d`, `na_ked`); any other term literally, as a whole word. None
    for an invalid regex or an entry with no letters or digits."""
    if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
        try:
            return re.compile(entry[1:-1], re.IGNORECASE)
        except re.error:
            return None
    term = skeleton(entry)
    if not any(char.isalnum() for char in term):
        return None
    if not all(char.isalnum() or char == " " for char in term):  # `c++`, `a.k.a`: literally
        return re.compile(rf"(?<![^\W_]){re.escape(term)}(?![^\W_])")
    body = _SEPARATORS.join(re.escape(char) for char in term if char != " ")
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")
