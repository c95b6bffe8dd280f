"""The contracts between the product's parts (docs/design.md §4), in one place.

Everything that two parts must agree on lives here: environment variable names, S3 key layout and
identifiers, the training configuration (`config.json`), the model artifact layout, the generation
arguments, what `<<TOK>>` means (`prompts`), the LoRA target modules (`lora`), safe tar members
(`safe_tar`), the multi-model names (`multi_model`) and the training time budget and cost model
(`training_budget`). The CDK app, the Lambda handlers, the training
container, the Triton models' packaging, the local cloud and the benchmarks all import it, so a name
changes in one place only.

`names`, `keys`, `prompts`, `lora`, `safe_tar`, `multi_model` and `training_budget` are dependency-free
(the CDK app imports the first two and `training_budget`); the rest needs pydantic.
"""
