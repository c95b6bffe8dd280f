"""The contracts between the product's parts (docs/design.md §4), in one place: standard library and
pydantic only.

Everything that two parts must agree on lives here: environment variable names, S3 key layout and
identifiers, the training configuration (`config.json`), the generation arguments, what `<<TOK>>` means
(`prompts`), the LoRA target modules (`lora`), the multi-model names (`multi_model`), the packs, the
routes, and the training time budget and cost model (`training_budget`). The CDK app, the Lambda
handlers, both containers, the local cloud and the benchmarks all import it, so a name changes in one
place only. Code that *does* something the same way in several runtimes (rendering, base-model download,
safe tar, the artifact) lives in `avatar_runtime`.
"""
