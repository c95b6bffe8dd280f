"""Shared runtime code (docs/development.md "Layers"): what two or more runtimes *do* the same way, apart
from `avatar_contract`, which only says what they agree on.

- `rendering`, `finishing`: the one way an image is rendered and finished (class images, previews,
  checkpoint scoring, hosting).
- `base_model`: the base model's manifest and its verified download (staging tool, CDK app, containers).
- `artifact`: building the per-user model archive (training, publisher, hosting gate).
- `safe_tar`, `tarfile_fixes`: bounded, safe extraction of untrusted archives and the interpreter check.
- `gpu`: the GPU runtime checks of both containers.

Heavy dependencies (torch, diffusers, boto3, PIL) are imported lazily inside functions, so the Lambda
functions can import the light parts.
"""
