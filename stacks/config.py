"""The service's deployment settings, read from `cdk.json` context (standard library only).

Each context key is defined ONCE, as a field of `ServiceConfig`: its attribute and type, its cdk.json key,
its default, its parser and its meaning (`setting(...)`). `SETTINGS` is derived from those fields;
`cdk.json`'s context and the table in docs/configuration.md are checked against it by
tests/infrastructure/test_config.py (`python -m stacks.config` prints both).

`ServiceConfig.from_context(...)` turns CDK context (from `cdk.json`, `cdk.context.json` or
`cdk synth -c key=value`) into one validated, typed object; an invalid value fails synth with a message
naming the key. The modules `stacks.config*` import nothing outside the standard library and
`avatar_contract.names`, so the local cloud can import them to create the same named resources.

To add a key: add a field below, add it with its default to cdk.json and to docs/configuration.md
(`python -m stacks.config` prints both), then use `config.<attribute>` in the stacks.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal

import avatar_contract.moderation as mod
from avatar_contract.families import DEFAULT_FAMILY, BaseFamily, FamilyName, family
from avatar_contract.names import Env
from stacks import config_parsers as p
from stacks.config_constants import (  # noqa: F401 - re-exported: one import site for the stacks
    API_STAGE_NAME,
    FUNCTION_TIMEOUT_SECONDS,
    GENERATION_RENDER_SECONDS,
    LOG_RETENTION_DAYS,
    MULTI_GPU_INSTANCE_TYPES,
    OWNER_FLEET_SHARE,
    OWNER_INSTANCE_SHARE,
    POWERTOOLS_ENVIRONMENT,
)
from stacks.config_names import ResourceNames
from stacks.config_parsers import ConfigError, Parser
from stacks.gpu_runtime import AMI_RUNTIMES, DEFAULT_AMI

__all__ = [
    "API_STAGE_NAME",
    "FUNCTION_TIMEOUT_SECONDS",
    "POWERTOOLS_ENVIRONMENT",
    "SETTINGS",
    "ConfigError",
    "ServiceConfig",
    "Setting",
]


@dataclass(frozen=True)
class Setting:
    """One context key: the ServiceConfig attribute it fills, its default, its parser and its meaning."""

    key: str
    attribute: str
    default: Any
    parse: Parser
    doc: str


_SPEC = "avatar-setting"


def setting(key: str, default: Any, parse: Parser, doc: str) -> Any:
    """A `ServiceConfig` field that is the cdk.json context key `key` (the one definition of the key)."""
    return field(default=default, metadata={_SPEC: (key, parse, doc)})


@dataclass(frozen=True)
class ServiceConfig(ResourceNames):
    """Validated deployment settings plus the physical names derived from them (`ResourceNames`)."""

    resource_prefix: str = setting(
        "resourcePrefix",
        "avatar",
        p.matching(p.PREFIX_RE, "2-20 lowercase letters, digits or '-', starting with a letter"),
        "Prefix of every physical name (endpoints, topics, queues, functions, alarms, dashboard).",
    )
    base_model: FamilyName = setting(  # noqa: RUF009 - a StrEnum
        "baseModel",
        DEFAULT_FAMILY,
        p.family_name,
        "Base family of both endpoints (avatar_contract.families): `sd21-base` or `sdxl-base-1.0`. It "
        "selects the staged manifest, the training and generation defaults and bounds and the instance "
        "types left unset; a model trained on another family is refused (docs/base-model.md).",
    )
    training_instance_override: str | None = setting(
        "trainingInstanceType",
        None,
        p.optional(p.instance_type),
        "GPU instance type of the asynchronous training endpoint. Unset: the base family's "
        "(ml.g5.2xlarge for both).",
    )
    training_max_capacity: int = setting(
        "trainingMaxCapacity",
        2,
        p.integer(1, 100),
        "Most training instances at once (the endpoint scales from 0 to this).",
    )
    training_backlog_per_instance: float = setting(
        "trainingBacklogPerInstance",
        2.0,
        p.number(0.1, 1000),
        "Target queued trainings per instance (target tracking on ApproximateBacklogSizePerInstance).",
    )
    training_inference_ami_version: str = setting(
        "trainingInferenceAmiVersion",
        DEFAULT_AMI,
        p.one_of(AMI_RUNTIMES),
        "SageMaker inference AMI (NVIDIA driver, CUDA) of the training endpoint; synth rejects one whose "
        "CUDA is below the training image's (docs/gpu-runtime.md).",
    )
    hosting_instance_override: str | None = setting(
        "hostingInstanceType",
        None,
        p.optional(p.hosting_instance),
        "Single-GPU instance type of the Triton multi-model endpoint. Unset: the base family's "
        "(sd21-base: ml.g5.xlarge; sdxl-base-1.0: ml.g5.2xlarge).",
    )
    hosting_inference_ami_version: str = setting(
        "hostingInferenceAmiVersion",
        DEFAULT_AMI,
        p.one_of(AMI_RUNTIMES),
        "SageMaker inference AMI (NVIDIA driver, CUDA) of the hosting endpoint; synth rejects one whose "
        "CUDA is below the hosting image's (docs/gpu-runtime.md).",
    )
    hosting_min_capacity: int = setting(
        "hostingMinCapacity",
        1,
        p.integer(1, 100),
        "Fewest hosting instances (a real-time endpoint keeps at least one).",
    )
    hosting_max_capacity: int = setting("hostingMaxCapacity", 2, p.integer(1, 100), "Most hosting instances.")
    hosting_gpu_utilization_target: float = setting(
        "hostingGpuUtilizationTarget",
        70.0,
        p.number(10, 95),
        "Target average GPU utilisation (%) that hosting autoscaling keeps.",
    )
    base_model_manifest_override: str | None = setting(
        "baseModelManifest",
        None,
        p.optional(p.matching(p.MANIFEST_RE, "a manifest file such as base_models/sd21-base.json")),
        "Base model manifest (path from the repository root): both containers load the copy "
        "`make stage-base-model` staged from it to the data bucket's base-models/<digest>/ (read access on "
        "exactly that prefix). Unset: the base family's, base_models/<baseModel>.json; set it only for a "
        "copy of the same family's pipeline (a private mirror).",
    )
    operator_packs_file: str | None = setting(
        "operatorPacksFile",
        None,
        p.optional(p.packs_file),
        "The operator's own avatar packs: a JSON file (path from the repository root) of "
        '`{"packs": [...]}` in the packs schema, validated at synth, shipped with the API functions\' code '
        "and listed by GET /packs after the curated packs (docs/packs.md). Unset: curated packs only.",
    )
    training_input_retention_days: int = setting(
        "trainingInputRetentionDays",
        7,
        p.integer(1, 3650),
        "Days before training inputs and uploaded selfies expire from the data bucket.",
    )
    enable_waf: bool = setting(
        "enableWaf",
        True,
        p.boolean,
        "Attach an AWS WAF web ACL (AWS managed common rules + rate limit) to the API stage.",
    )
    training_vpc_only: bool = setting(
        "trainingVpcOnly",
        False,
        p.boolean,
        "Run the training endpoint without internet: its own VPC with isolated subnets only and an S3 "
        "gateway endpoint limited to the data bucket (no NAT, no interface endpoint); adds only flow-log "
        "ingestion to the bill (docs/configuration.md).",
    )
    enable_end_users: bool = setting(
        "enableEndUsers",
        True,
        p.boolean,
        "Cognito sign-in for an app's end users: user pool, public app client, identity pool whose role "
        "may only invoke this API (docs/end-users.md).",
    )
    end_user_oauth_callback_urls: tuple[str, ...] = setting(
        "endUserOAuthCallbackUrls",
        (),
        p.oauth_urls,
        "OAuth redirect URLs of the end users' app client; empty (the default): the client allows no OAuth "
        "flow and no callback URL (sign-in through the Cognito API only). Set: the authorization-code "
        "grant (PKCE) with the openid and email scopes, to these URLs only (docs/end-users.md).",
    )
    waf_rate_limit: int = setting(
        "wafRateLimit",
        1000,
        p.integer(10, 2_000_000_000),
        "Requests per 5 minutes from one IP before WAF blocks it.",
    )
    alarm_email: str | None = setting(
        "alarmEmail",
        None,
        p.optional(p.matching(p.EMAIL_RE, "an e-mail address")),
        "Optional e-mail address subscribed to the alarm topic.",
    )
    api_throttling_rate_limit: int = setting(
        "apiThrottlingRateLimit",
        50,
        p.integer(1, 10_000),
        "Steady-state requests per second the API stage allows.",
    )
    api_throttling_burst_limit: int = setting(
        "apiThrottlingBurstLimit", 100, p.integer(1, 5_000), "Burst of requests the API stage allows."
    )
    log_retention_days: int = setting(
        "logRetentionDays",
        30,
        p.log_retention,
        "Retention of the log groups this app creates (API access, Lambda, both endpoints).",
    )
    removal_policy: Literal["retain", "destroy"] = setting(
        "removalPolicy",
        "retain",
        p.one_of(("retain", "destroy")),
        "What `cdk destroy` does to buckets and keys: retain them, or destroy them (and empty buckets).",
    )
    lambda_architecture: Literal["arm64", "x86_64"] = setting(
        "lambdaArchitecture",
        "arm64",
        p.one_of(("arm64", "x86_64")),
        "CPU architecture of the API functions (and of the pip wheels bundled with them).",
    )
    base_image_region: str | None = setting(
        "baseImageRegion",
        None,
        p.optional(p.matching(p.REGION_RE, "an AWS region such as us-east-1")),
        "Region whose SageMaker base images the containers build FROM; default: CDK_DEFAULT_REGION, "
        "then us-east-1.",
    )
    status_consumer_role_arns: tuple[str, ...] = setting(
        "statusConsumerRoleArns",
        (),
        p.role_arns,
        "Same-account IAM roles given the StatusConsumePolicyArn policy (consume the status queue).",
    )

    quota_concurrent_trainings: int = setting(
        "quotaConcurrentTrainings",
        1,
        p.integer(1, 100),
        "Trainings one owner may have queued or running at once (429 quota_exceeded beyond; docs/limits.md).",
    )
    quota_trainings_per_day: int = setting(
        "quotaTrainingsPerDay",
        5,
        p.integer(1, 10_000),
        "Trainings one owner may start per UTC day (429 quota_exceeded beyond; docs/limits.md).",
    )
    quota_generations_per_minute: int = setting(
        "quotaGenerationsPerMinute",
        20,
        p.integer(1, 100_000),
        "Generation requests one owner may make per minute (429 quota_exceeded beyond; docs/limits.md).",
    )
    quota_generation_gpu_seconds_per_minute: float | None = setting(
        "quotaGenerationGpuSecondsPerMinute",
        None,
        p.optional(p.number(1, 1_000_000)),
        "GPU-seconds of generations one owner may start per minute, metered in pixel-steps by the hosting "
        "instance's throughput (429 quota_exceeded beyond). Unset: a quarter of the fleet "
        "(hostingMaxCapacity x 60 s / 4), at least 20 s (docs/limits.md).",
    )
    quota_generations_in_flight: int | None = setting(
        "quotaGenerationsInFlight",
        None,
        p.optional(p.integer(1, 10_000)),
        "Generations one owner may have in flight at once (429 quota_exceeded beyond). Unset: half of "
        "hostingMaxCapacity, at least 1 (docs/limits.md).",
    )
    quota_dry_runs_per_hour: int = setting(
        "quotaDryRunsPerHour",
        30,
        p.integer(1, 100_000),
        "`POST /trainings` dry runs one owner may make per hour (429 quota_exceeded beyond; docs/limits.md).",
    )
    quota_refused_trainings_per_day: int = setting(
        "quotaRefusedTrainingsPerDay",
        10,
        p.integer(1, 100_000),
        "Training submissions of one owner that may be refused (4xx after decoding, screening or moderation "
        "began) per UTC day; beyond, submissions get 429 quota_exceeded (docs/limits.md).",
    )
    quota_pack_jobs_in_flight: int = setting(
        "quotaPackJobsInFlight",
        2,
        p.integer(1, 1000),
        "Pack jobs one owner may have queued or running at once (429 quota_exceeded beyond; docs/packs.md). "
        "Their images' pixel-steps come from the generations' GPU-seconds per minute, metered per hour.",
    )
    pack_runner_reserved_concurrency: int = setting(
        "packRunnerReservedConcurrency",
        2,
        p.integer(1, 100),
        "Reserved concurrency of the pack runner: how many pack images render at once, the share of the "
        "hosting fleet background packs may take from interactive generations (docs/packs.md).",
    )
    reserved_concurrency_trainings: int | None = setting(
        "reservedConcurrencyTrainings",
        10,
        p.optional(p.integer(0, 1000)),
        "Reserved concurrency of the trainings function (0 or unset: unreserved; an account whose "
        "concurrency limit was lowered may refuse any reservation).",
    )
    reserved_concurrency_reads: int | None = setting(
        "reservedConcurrencyReads",
        10,
        p.optional(p.integer(0, 1000)),
        "Reserved concurrency of the reads function: training status, model list, webhook secret, upload "
        "slots (0 or unset: unreserved).",
    )
    reserved_concurrency_models: int | None = setting(
        "reservedConcurrencyModels",
        5,
        p.optional(p.integer(0, 1000)),
        "Reserved concurrency of the models function (0 or unset: unreserved).",
    )
    reserved_concurrency_generations: int | None = setting(
        "reservedConcurrencyGenerations",
        10,
        p.optional(p.integer(0, 1000)),
        "Reserved concurrency of the generations function (0 or unset: unreserved).",
    )
    webhook_ports: tuple[int, ...] = setting(
        "webhookPorts",
        (443,),
        p.ports,
        "Ports a training's webhook URL may name (checked at submission and again at delivery; "
        "docs/events.md).",
    )
    status_events_max_concurrency: int = setting(
        "statusEventsMaxConcurrency",
        5,
        p.integer(2, 1000),
        "Most concurrent status-consumer invocations (the maximum concurrency of its SQS event source; "
        "SQS's floor is 2): a burst of notifications waits in the queue instead of taking the account's "
        "unreserved concurrency (docs/events.md).",
    )

    moderation_prompts: mod.PromptModeration = setting(  # noqa: RUF009 - a frozen dataclass
        "moderationPrompts",
        mod.PromptModeration(),
        p.moderation_stage(mod.parse_prompts),
        "Prompt moderation (Comprehend DetectToxicContent + the deny list): `enabled`, per-category "
        "`thresholds` (0-1), `on_failure` closed|open, Comprehend `region` (empty: the stack's) "
        "(docs/moderation.md).",
    )
    moderation_outputs: mod.ImageModeration = setting(  # noqa: RUF009 - a frozen dataclass
        "moderationOutputs",
        mod.ImageModeration(),
        p.moderation_stage(lambda raw: mod.parse_images(raw, mod.ImageModeration())),
        "Generated-image moderation (Rekognition DetectModerationLabels): `enabled`, `min_confidence` "
        "(0-100), `categories`, `on_failure` closed|open (docs/moderation.md).",
    )
    moderation_inputs: mod.ImageModeration = setting(  # noqa: RUF009 - a frozen dataclass
        "moderationInputs",
        mod.ModerationPolicy().inputs,
        p.moderation_stage(lambda raw: mod.parse_images(raw, mod.ModerationPolicy().inputs)),
        "Selfie moderation at training submission (Rekognition DetectModerationLabels), same fields as "
        "moderationOutputs (docs/moderation.md).",
    )

    def __post_init__(self) -> None:
        functions = ("trainings", "reads", "models", "generations")
        reserved = sum(self.reserved_concurrency(name) or 0 for name in functions)
        reserved += self.pack_runner_reserved_concurrency
        if reserved > 900:  # Lambda keeps 100 of an account's (default 1000) concurrency unreserved
            raise ConfigError(
                f"cdk.json context 'reservedConcurrency*' reserve {reserved} executions in total; at most 900"
            )
        if self.hosting_min_capacity > self.hosting_max_capacity:
            raise ConfigError(
                f"cdk.json context 'hostingMinCapacity' ({self.hosting_min_capacity}) must not exceed "
                f"'hostingMaxCapacity' ({self.hosting_max_capacity})"
            )

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> ServiceConfig:
        """Read every known key from `context` (defaults for missing ones) and validate it.

        Keys with a ':' or '@' belong to the CDK itself (feature flags, `aws:cdk:*`) and are ignored;
        any other unknown key is an error, so a typo never silently falls back to a default.
        """
        unknown = sorted(key for key in context if key not in _BY_KEY and not _is_cdk_key(key))
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, list(_BY_KEY), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_BY_KEY)}"
            raise ConfigError(f"cdk.json context {key!r} is not a setting of this app{hint}")
        values = {}
        for spec in SETTINGS:
            raw = context.get(spec.key)
            values[spec.attribute] = spec.default if raw is None else spec.parse(spec.key, raw)
        return cls(**values)

    @staticmethod
    def defaults() -> dict[str, Any]:
        """Every context key with its default value (what `cdk.json` documents)."""
        return {spec.key: spec.default for spec in SETTINGS}

    # --- derived values ----------------------------------------------------------------------------

    @property
    def family(self) -> BaseFamily:
        """The base family both endpoints serve (`baseModel`)."""
        return family(self.base_model)

    @property
    def training_instance_type(self) -> str:
        return self.training_instance_override or self.family.training_instance_type

    @property
    def hosting_instance_type(self) -> str:
        return self.hosting_instance_override or self.family.hosting_instance_type

    @property
    def base_model_manifest(self) -> str:
        return self.base_model_manifest_override or self.family.manifest_path

    def moderation_policy(self, deny_list_parameter: str) -> mod.ModerationPolicy:
        """The three moderation stages and the deny list's SSM parameter (the functions' environment)."""
        return mod.ModerationPolicy(
            self.moderation_prompts, self.moderation_outputs, self.moderation_inputs, deny_list_parameter
        )

    def reserved_concurrency(self, function: str) -> int | None:
        """`reservedConcurrency<Function>` for an `avatar_contract.routes.Function.name`; None: unreserved."""
        value = getattr(self, f"reserved_concurrency_{function}")
        return value or None

    def quota_environment(self) -> dict[str, str]:
        """The per-owner quotas as the API functions read them (avatar_api.adapters.quotas.QuotaLimits)."""
        return {
            Env.QUOTA_CONCURRENT_TRAININGS: str(self.quota_concurrent_trainings),
            Env.QUOTA_TRAININGS_PER_DAY: str(self.quota_trainings_per_day),
            Env.QUOTA_GENERATIONS_PER_MINUTE: str(self.quota_generations_per_minute),
            Env.QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE: f"{self.generation_gpu_seconds_per_minute():g}",
            Env.QUOTA_GENERATIONS_IN_FLIGHT: str(self.generations_in_flight()),
            Env.QUOTA_DRY_RUNS_PER_HOUR: str(self.quota_dry_runs_per_hour),
            Env.QUOTA_REFUSED_TRAININGS_PER_DAY: str(self.quota_refused_trainings_per_day),
            Env.QUOTA_PACK_JOBS_IN_FLIGHT: str(self.quota_pack_jobs_in_flight),
        }

    def generation_gpu_seconds_per_minute(self) -> float:
        """`quotaGenerationGpuSecondsPerMinute`, or the owner's share of the fleet's GPU-seconds per
        minute, never below one largest request (docs/limits.md)."""
        if self.quota_generation_gpu_seconds_per_minute is not None:
            return self.quota_generation_gpu_seconds_per_minute
        fleet = self.hosting_max_capacity * 60.0
        return max(GENERATION_RENDER_SECONDS, fleet * OWNER_FLEET_SHARE)

    def generations_in_flight(self) -> int:
        """`quotaGenerationsInFlight`, or the owner's share of the fleet's instances (at least 1)."""
        if self.quota_generations_in_flight is not None:
            return self.quota_generations_in_flight
        return max(1, int(self.hosting_max_capacity * OWNER_INSTANCE_SHARE))

    def webhook_environment(self) -> dict[str, str]:
        """The webhook ports as the trainings function and the status consumer read them."""
        return {Env.WEBHOOK_PORTS: ",".join(map(str, self.webhook_ports))}

    def resolved_base_image_region(self, default_region: str | None) -> str:
        """Region for the containers' base images: `baseImageRegion`, else `default_region`
        (CDK_DEFAULT_REGION), else us-east-1. Only the Docker build uses it; the stacks stay
        environment-agnostic."""
        return self.base_image_region or default_region or "us-east-1"


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(spec[0], f.name, f.default, spec[1], spec[2])
    for f in fields(ServiceConfig)
    if (spec := f.metadata.get(_SPEC)) is not None
)
_BY_KEY = {spec.key: spec for spec in SETTINGS}


def _is_cdk_key(key: str) -> bool:
    return ":" in key or key.startswith("@")


# --- what cdk.json and docs/configuration.md show (checked by tests/infrastructure/test_config.py) -----


def documented_context() -> dict[str, Any]:
    """cdk.json's `context`: every key with its default in JSON form (unset = "", tuples as lists)."""
    return {spec.key: _json_default(spec.default) for spec in SETTINGS}


def markdown_table() -> str:
    """The `| key | default | meaning |` table of docs/configuration.md."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for spec in SETTINGS:
        default = spec.default
        shown = (
            "(unset)"
            if default is None
            else f"`{default}`"
            if isinstance(default, str)
            else f"`{json.dumps(_json_default(default))}`"
        )
        rows.append(f"| `{spec.key}` | {shown} | {spec.doc} |")
    return "\n".join(rows)


def _json_default(default: Any) -> Any:
    if default is None:
        return ""
    if isinstance(default, tuple):
        return list(default)
    if is_dataclass(default) and not isinstance(default, type):
        return json.loads(json.dumps(asdict(default)))
    return default


def doctor_arguments(context: Mapping[str, Any]) -> list[str]:
    """`avatar doctor` flags for the deployment `context` configures (what `make smoke` passes)."""
    config = ServiceConfig.from_context(context)
    return [
        "--stack", config.name("service"),
        "--training-ami", config.training_inference_ami_version,
        "--hosting-ami", config.hosting_inference_ami_version,
    ]  # fmt: skip


if __name__ == "__main__":  # pragma: no cover - a maintainer's helper and `make smoke`
    import sys
    from pathlib import Path

    if sys.argv[1:] == ["--doctor-args"]:
        cdk_json = Path(__file__).resolve().parent.parent / "cdk.json"
        print(" ".join(doctor_arguments(json.loads(cdk_json.read_text()).get("context", {}))))
    else:
        print(json.dumps(documented_context(), indent=2))
        print()
        print(markdown_table())
