"""The contracts between the product's parts (docs/design.md §4), in one place.

Everything that two parts must agree on lives here: environment variable names, S3 key layout and
identifiers, the training configuration (`config.json`), the model artifact layout, and the generation
arguments. The CDK app, the Lambda handlers, the training container, the Triton models' packaging, the
local cloud and the benchmarks all import it, so a name changes in one place only.

`names` and `keys` are dependency-free (the CDK app imports them); the rest needs pydantic.
"""
