"""The training service: a SageMaker async-endpoint container whose "inference" is a DreamBooth-LoRA
training (docs/design.md §2 steps 3, 4, 6).

- `server`: the HTTP contract (`GET /ping`, `POST /invocations`); `create_server(port, settings)`.
- `service`: one training end to end (archive → images → LoRA → previews → artifact in S3).
- `archive`, `config`, `images`: safe input reading, config mapping (ours and the reference's) and the
  destination check, face-aware image preparation; `decode`: one image to RGB, or the reason it is unusable.
- `deadline`: the time budget and cancellation of one training (docs/limits-training.md).
- `trainer`: `train_lora(pipeline_dir, images, config, output_dir, device)` — the training loop, one for
  every base family; `families`: what differs per family (text encoders, prompt conditioning, SDXL's
  pooled embedding and micro-conditioning), picked by the base pipeline's class.
- `settings`: environment variables.
"""
