"""Names vulture (`make lint`, [tool.vulture] in pyproject.toml) reports as unused that are used where it
cannot see: each group says by whom. Framework hooks matched by name (http.server's `do_*`, Triton's
`TritonPythonModel`, pydantic's `model_config`, ...) are in [tool.vulture] `ignore_names` instead.
Vulture matches by name only, so an entry here hides every definition of that name: keep it short."""

# ruff: noqa: B018
from types import SimpleNamespace

_ = SimpleNamespace()

# Fields of response, record and event models that are written out (JSON to clients, S3 records, SNS
# events) and read by their consumers, never by attribute in this repository.
_.event_source  # avatar_contract.notifications (SageMaker's `eventSource`)
_.queue_position  # avatar_contract.progress.TrainingProgress
_.schema_version  # records and events: their consumers check it
_.would_train  # POST /screenings' answer
_.preview_urls  # GET /trainings/{id}'s answer
_.previews_withheld
_.expires_in  # presigned upload answer
_.previous_secret  # webhook secret answer
_.grace_seconds
_.timestamp_header
_.signature_header
_.image_count  # the training record

# Read by name: AppConfig.reserved_concurrency() does getattr(self, f"reserved_concurrency_{function}").
_.reserved_concurrency_trainings
_.reserved_concurrency_reads
_.reserved_concurrency_models
_.reserved_concurrency_generations

# Parameters whose names the caller fixes: Powertools' `data_keyword_argument="submission"`, diffusers'
# `callback_on_step_end(pipe, step, timestep, callback_kwargs)`, boto3's keyword arguments in a fake.
_.submission
_.timestep
_.LanguageCode

# Serialized fields written for their readers: the staged metadata's format (the publisher's schema), a
# listed pack's image count (GET /packs), the `make images-cuda` report (cuda-report.json), a pack job's
# last change (GET …/packs/{job_id}) and the version of the pack it renders (its record, job.json).
_.adapter_format
_.render_version
_.total_images
_.import_seconds
_.updated_at
_.pack_version

# avatar_contract.families: values of a base family the SDXL training and hosting paths read, and the
# definition's record of its licence (docs/base-model.md "Adding a family").
_.precompute_latents
_.precompute_text_embeddings
_.license
_.unet_lora_targets

# PEP 562's module attribute hook: random_sd loads its builders (torch, diffusers) on first use.
_.__getattr__
_.metadata_version  # avatar_contract.publishing.ModelMetadata: written to metadata.json for its readers
