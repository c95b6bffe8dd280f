"""Training presets: named sets of documented configuration keys (docs/training.md) for `start_training`'s
`config`, shared by the web app, the demo and any app that wants them.

- "fast": what the local cloud's tiny random-weight model trains in seconds on a CPU; on a real GPU and
  base model it is a smoke test, not a likeness.
- "standard": the service's documented defaults, which are its base family's (sd21-base: 1000 steps at
  512 px with checkpoint selection, UNet rank 32, text encoder, prior preservation with 200 class images;
  sdxl-base-1.0: 800 steps at 1024 px, UNet rank 32, no prior preservation: docs/training.md).
- "best": the upper end of the HF DreamBooth blog's 800-1200 steps for faces and higher ranks.
"""

from __future__ import annotations

from typing import Any

TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "max_train_steps": 8,
        "resolution": 64,
        "lora_rank": 4,
        "train_text_encoder": False,
        "with_prior_preservation": False,
        "gradient_checkpointing": False,
        "mixed_precision": "no",
    },
    "standard": {},
    "best": {
        "max_train_steps": 1200,
        "lora_rank": 64,
        "text_encoder_lora_rank": 32,
    },
}
