"""What `<<TOK>>` means in a prompt, defined once for training and generation.

`<<TOK>>` stands for the model's identifier *and* its class noun, as in the reference sample's own prompt
`photo of <<TOK>> epic portrait`: a model trained with token `sks` and class prompt `a photo of person`
turns `a photo of <<TOK>>` into `a photo of sks person`, at training (instance and validation prompts)
and at generation alike. The identity comes from the model's metadata (`metadata.json`, or the training
configuration it is written from): `token`, and `class_noun` or else the last word of `class_prompt`.

No dependencies: the training container, the hosting engine and the API may all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from avatar_contract.names import TOKEN_PLACEHOLDER

DEFAULT_CLASS_NOUN: Final = "person"


class MissingTokenError(ValueError):
    """The model metadata names no token, so `<<TOK>>` cannot be resolved."""


def class_noun(metadata: Mapping[str, Any]) -> str:
    """The class the identifier is bound to: `class_noun`, else the last word of `class_prompt`
    (`a photo of person` → `person`), else `person`."""
    noun = str(metadata.get("class_noun") or "").strip()
    if noun:
        return noun
    words = str(metadata.get("class_prompt") or "").split()
    return words[-1] if words else DEFAULT_CLASS_NOUN


def token_phrase(metadata: Mapping[str, Any]) -> str:
    """What `<<TOK>>` stands for in this model's prompts, e.g. `sks person`."""
    token = str(metadata.get("token") or "").strip()
    if not token:
        raise MissingTokenError("the model metadata has no 'token'")
    return f"{token} {class_noun(metadata)}"


def personalize(template: str, metadata: Mapping[str, Any]) -> str:
    """`template` with every `<<TOK>>` replaced by the model's token and class noun."""
    if TOKEN_PLACEHOLDER not in template:
        return template
    return template.replace(TOKEN_PLACEHOLDER, token_phrase(metadata))


def training_prompts(
    token: str,
    instance_prompt: str,
    class_prompt: str,
    validation_prompts: list[str],
    class_noun: str | None = None,
) -> list[str]:
    """Every prompt a training renders, as the trainer renders it: the instance prompt and the
    validation prompts personalized (with `class_noun` when given), the class prompt as written (class
    images show no one)."""
    identity = {"token": token, "class_prompt": class_prompt}
    if class_noun:
        identity["class_noun"] = class_noun
    return [
        personalize(instance_prompt, identity),
        class_prompt,
        *(personalize(prompt, identity) for prompt in validation_prompts),
    ]
