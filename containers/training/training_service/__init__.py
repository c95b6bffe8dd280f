"""The training service: a SageMaker async-endpoint container whose "inference" is a DreamBooth-LoRA
training (docs/design.md §2 steps 3, 4, 6).

- `server`: the HTTP contract (`GET /ping`, `POST /invocations`); `create_server(port, settings)`.
- `service`: one training end to end (archive → images → LoRA → previews → artifact in S3).
- `archive`, `config`, `images`: safe input reading, config mapping (ours and the reference's),
  face-aware image preparation.
- `trainer`: `train_lora(pipeline_dir, images, config, output_dir, device)` — the training loop.
- `settings`: environment variables.
"""
