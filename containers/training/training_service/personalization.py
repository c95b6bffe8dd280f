"""What a training's prompts and seeds become: the instance prompt the adapter is trained on, and the
validation prompts and seeds its previews and the checkpoint scoring render (`<<TOK>>` resolved the way
the model's `metadata.json` resolves it for hosting). Shared by the trainer, the checkpoint scoring and the
service; torch-free."""

from __future__ import annotations

from avatar_contract.prompts import personalize
from avatar_contract.training import REFERENCE_TOKEN, TrainingHyperparameters, effective_class_noun
from avatar_contract.training_budget import SCORING_SEEDS


def model_identity(config: TrainingHyperparameters) -> dict[str, str]:
    """What `<<TOK>>` resolves from: the same keys the model's `metadata.json` carries to hosting (a
    `TrainingConfig` always names its token; bare hyper-parameters, as measurements use, the reference's)."""
    return {
        "token": config.token or REFERENCE_TOKEN,
        "class_prompt": config.class_prompt,
        "class_noun": effective_class_noun(config),
    }


def instance_text(config: TrainingHyperparameters) -> str:
    """The instance prompt the adapter is trained on (`a photo of <<TOK>>` → `a photo of sks person`)."""
    return personalize(config.instance_prompt, model_identity(config))


def validation_texts(config: TrainingHyperparameters) -> list[str]:
    """The validation prompts the previews are rendered with, personalized the same way."""
    return [personalize(prompt, model_identity(config)) for prompt in config.validation_prompts]


def preview_seeds(config: TrainingHyperparameters, scoring: bool) -> list[int]:
    """The seeds each validation prompt is rendered with: `seed`, `seed + 1` when checkpoints are scored
    (what the endpoint renders for `num_images` 2 and that seed), else `seed`."""
    return [config.seed + n for n in range(SCORING_SEEDS if scoring else 1)]
