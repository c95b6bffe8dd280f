"""The service's deployment settings, read from `cdk.json` context (standard library only).

`ServiceConfig.from_context(...)` turns CDK context (from `cdk.json`, `cdk.context.json` or
`cdk synth -c key=value`) into one validated, typed object. Every key has a documented default
(`SETTINGS`); an invalid value fails synth with a message naming the key. Context values given on the
command line arrive as strings, so numbers and booleans are parsed from strings too.

The module imports nothing outside the standard library and `avatar_contract.names`, so the local cloud
can import it to create the same named resources (endpoints, topics, queues) that the CDK app creates.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


class ConfigError(ValueError):
    """A context value is invalid; the message names the key, the value and what is expected."""


# CloudWatch Logs accepts only these retention periods (days).
# Fixed settings of the API tier, shared by the CDK app and the local cloud (one source for both).
API_STAGE_NAME = "v1"
FUNCTION_TIMEOUT_SECONDS = 29  # API Gateway's default integration timeout (DESIGN §5)
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "avatar-api",
    "POWERTOOLS_METRICS_NAMESPACE": "AvatarService",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Multi-model endpoints on GPU run only on single-GPU instances (DESIGN §5). These GPU sizes carry more
# than one GPU and are rejected for hosting; unknown types pass (SageMaker is the final judge).
MULTI_GPU_INSTANCE_TYPES = frozenset(
    {
        "ml.g4dn.12xlarge",
        "ml.g4dn.metal",
        "ml.g5.12xlarge",
        "ml.g5.24xlarge",
        "ml.g5.48xlarge",
        "ml.g6.12xlarge",
        "ml.g6.24xlarge",
        "ml.g6.48xlarge",
        "ml.g6e.12xlarge",
        "ml.g6e.24xlarge",
        "ml.g6e.48xlarge",
        "ml.p3.8xlarge",
        "ml.p3.16xlarge",
        "ml.p3dn.24xlarge",
        "ml.p4d.24xlarge",
        "ml.p4de.24xlarge",
        "ml.p5.48xlarge",
        "ml.p5e.48xlarge",
    }
)

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_MANIFEST_RE = re.compile(r"^[\w./-]+\.json$")
DEFAULT_BASE_MODEL_MANIFEST = "base_models/sd21-base.json"  # avatar_contract.base_model's format


# --- value parsers: (key, raw value) -> typed value, raising ConfigError naming the key -------------


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"cdk.json context {key!r}: expected {expected}, got {value!r}")


def _integer(minimum: int, maximum: int) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        expected = f"an integer from {minimum} to {maximum}"
        if isinstance(value, bool):
            raise _fail(key, value, expected)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int) or not minimum <= value <= maximum:
            raise _fail(key, value, expected)
        return value

    return parse


def _number(minimum: float, maximum: float) -> Callable[[str, Any], float]:
    def parse(key: str, value: Any) -> float:
        expected = f"a number from {minimum:g} to {maximum:g}"
        if isinstance(value, bool):
            raise _fail(key, value, expected)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _fail(key, value, expected) from None
        if not isinstance(value, int | float) or not minimum <= value <= maximum:
            raise _fail(key, value, expected)
        return float(value)

    return parse


def _boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise _fail(key, value, "true or false")


def _matching(pattern: re.Pattern[str], expected: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise _fail(key, value, expected)
        return value

    return parse


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """None or an empty string mean "not set"; anything else must satisfy `parse`."""

    def parse_optional(key: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        return parse(key, value)

    return parse_optional


def _one_of(choices: Iterable[Any]) -> Callable[[str, Any], Any]:
    allowed = tuple(choices)

    def parse(key: str, value: Any) -> Any:
        for choice in allowed:
            if value == choice or (isinstance(value, str) and value.strip().lower() == str(choice)):
                return choice
        raise _fail(key, value, "one of " + ", ".join(str(c) for c in allowed))

    return parse


def _log_retention(key: str, value: Any) -> int:
    number = _integer(1, 3653)(key, value)
    if number not in LOG_RETENTION_DAYS:
        raise _fail(key, value, "a CloudWatch Logs retention: " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return number


def _hosting_instance(key: str, value: Any) -> str:
    instance = _matching(_INSTANCE_RE, "a SageMaker instance type such as ml.g5.xlarge")(key, value)
    if instance in MULTI_GPU_INSTANCE_TYPES:
        raise _fail(key, value, "a single-GPU instance type (GPU multi-model endpoints need one GPU)")
    return instance


def _role_arns(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # `-c key=arn1,arn2` on the command line
        value = [part.strip() for part in value.split(",") if part.strip()]
    expected = "a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)"
    if not isinstance(value, list | tuple):
        raise _fail(key, value, expected)
    for arn in value:
        if not isinstance(arn, str) or not _ROLE_ARN_RE.fullmatch(arn):
            raise _fail(key, arn, expected)
    return tuple(value)


# --- the settings table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One context key: the ServiceConfig attribute it fills, its default, its parser and its meaning."""

    key: str
    attribute: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "resourcePrefix",
        "resource_prefix",
        "avatar",
        _matching(_PREFIX_RE, "2-20 lowercase letters, digits or '-', starting with a letter"),
        "Prefix of every physical name (endpoints, topics, queues, functions, alarms, dashboard).",
    ),
    Setting(
        "trainingInstanceType",
        "training_instance_type",
        "ml.g5.2xlarge",
        _matching(_INSTANCE_RE, "a SageMaker instance type such as ml.g5.2xlarge"),
        "GPU instance type of the asynchronous training endpoint.",
    ),
    Setting(
        "trainingMaxCapacity",
        "training_max_capacity",
        2,
        _integer(1, 100),
        "Most training instances at once (the endpoint scales from 0 to this).",
    ),
    Setting(
        "trainingBacklogPerInstance",
        "training_backlog_per_instance",
        2.0,
        _number(0.1, 1000),
        "Target queued trainings per instance (target tracking on ApproximateBacklogSizePerInstance).",
    ),
    Setting(
        "hostingInstanceType",
        "hosting_instance_type",
        "ml.g5.xlarge",
        _hosting_instance,
        "Single-GPU instance type of the Triton multi-model endpoint.",
    ),
    Setting(
        "hostingMinCapacity",
        "hosting_min_capacity",
        1,
        _integer(1, 100),
        "Fewest hosting instances (a real-time endpoint keeps at least one).",
    ),
    Setting(
        "hostingMaxCapacity",
        "hosting_max_capacity",
        2,
        _integer(1, 100),
        "Most hosting instances.",
    ),
    Setting(
        "hostingGpuUtilizationTarget",
        "hosting_gpu_utilization_target",
        70.0,
        _number(10, 95),
        "Target average GPU utilisation (%) that hosting autoscaling keeps.",
    ),
    Setting(
        "baseModelManifest",
        "base_model_manifest",
        DEFAULT_BASE_MODEL_MANIFEST,
        _matching(_MANIFEST_RE, "a manifest file such as base_models/sd21-base.json"),
        "Base model manifest (path from the repository root): both containers load the copy "
        "`make stage-base-model` staged from it to the data bucket's base-models/<digest>/ (read access on "
        "exactly that prefix).",
    ),
    Setting(
        "trainingInputRetentionDays",
        "training_input_retention_days",
        7,
        _integer(1, 3650),
        "Days before training inputs and uploaded selfies expire from the data bucket.",
    ),
    Setting(
        "enableWaf",
        "enable_waf",
        True,
        _boolean,
        "Attach an AWS WAF web ACL (AWS managed common rules + rate limit) to the API stage.",
    ),
    Setting(
        "wafRateLimit",
        "waf_rate_limit",
        1000,
        _integer(10, 2_000_000_000),
        "Requests per 5 minutes from one IP before WAF blocks it.",
    ),
    Setting(
        "alarmEmail",
        "alarm_email",
        None,
        _optional(_matching(_EMAIL_RE, "an e-mail address")),
        "Optional e-mail address subscribed to the alarm topic.",
    ),
    Setting(
        "apiThrottlingRateLimit",
        "api_throttling_rate_limit",
        50,
        _integer(1, 10_000),
        "Steady-state requests per second the API stage allows.",
    ),
    Setting(
        "apiThrottlingBurstLimit",
        "api_throttling_burst_limit",
        100,
        _integer(1, 5_000),
        "Burst of requests the API stage allows.",
    ),
    Setting(
        "logRetentionDays",
        "log_retention_days",
        30,
        _log_retention,
        "Retention of the log groups this app creates (API access, Lambda, both endpoints).",
    ),
    Setting(
        "removalPolicy",
        "removal_policy",
        "retain",
        _one_of(("retain", "destroy")),
        "What `cdk destroy` does to buckets and keys: retain them, or destroy them (and empty buckets).",
    ),
    Setting(
        "lambdaArchitecture",
        "lambda_architecture",
        "arm64",
        _one_of(("arm64", "x86_64")),
        "CPU architecture of the API functions (and of the pip wheels bundled with them).",
    ),
    Setting(
        "powertoolsLayerVersion",
        "powertools_layer_version",
        27,
        _integer(1, 10_000),
        "Version of the public AWSLambdaPowertoolsPythonV3-python312 layer.",
    ),
    Setting(
        "baseImageRegion",
        "base_image_region",
        None,
        _optional(_matching(_REGION_RE, "an AWS region such as us-east-1")),
        "Region whose SageMaker base images the containers build FROM; default: CDK_DEFAULT_REGION, "
        "then us-east-1.",
    ),
    Setting(
        "statusConsumerRoleArns",
        "status_consumer_role_arns",
        (),
        _role_arns,
        "Same-account IAM roles given the StatusConsumePolicyArn policy (consume the status queue).",
    ),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class ServiceConfig:
    """Validated deployment settings plus the physical names derived from them."""

    resource_prefix: str = "avatar"
    training_instance_type: str = "ml.g5.2xlarge"
    training_max_capacity: int = 2
    training_backlog_per_instance: float = 2.0
    hosting_instance_type: str = "ml.g5.xlarge"
    hosting_min_capacity: int = 1
    hosting_max_capacity: int = 2
    hosting_gpu_utilization_target: float = 70.0
    base_model_manifest: str = DEFAULT_BASE_MODEL_MANIFEST
    training_input_retention_days: int = 7
    enable_waf: bool = True
    waf_rate_limit: int = 1000
    alarm_email: str | None = None
    api_throttling_rate_limit: int = 50
    api_throttling_burst_limit: int = 100
    log_retention_days: int = 30
    removal_policy: Literal["retain", "destroy"] = "retain"
    lambda_architecture: Literal["arm64", "x86_64"] = "arm64"
    powertools_layer_version: int = 27
    base_image_region: str | None = None
    status_consumer_role_arns: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
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
        for setting in SETTINGS:
            raw = context.get(setting.key)
            values[setting.attribute] = setting.default if raw is None else setting.parse(setting.key, raw)
        return cls(**values)

    @staticmethod
    def defaults() -> dict[str, Any]:
        """Every context key with its default value (what `cdk.json` documents)."""
        return {setting.key: setting.default for setting in SETTINGS}

    # --- physical names (the CDK app and the local cloud both use these) ---------------------------

    def name(self, suffix: str) -> str:
        """`<prefix>-<suffix>`: the naming scheme of every named resource."""
        return f"{self.resource_prefix}-{suffix}"

    @property
    def training_endpoint_name(self) -> str:
        return self.name("training")

    @property
    def hosting_endpoint_name(self) -> str:
        return self.name("hosting")

    @property
    def training_success_topic_name(self) -> str:
        return self.name("training-success")

    @property
    def training_error_topic_name(self) -> str:
        return self.name("training-error")

    @property
    def status_queue_name(self) -> str:
        return self.name("training-status")

    @property
    def status_dead_letter_queue_name(self) -> str:
        return self.name("training-status-dlq")

    @property
    def alarm_topic_name(self) -> str:
        return self.name("alarms")

    @property
    def api_name(self) -> str:
        return self.name("api")

    @property
    def dashboard_name(self) -> str:
        return self.name("dashboard")

    def function_name(self, function: str) -> str:
        """Physical Lambda function name for an `avatar_contract.routes.Function.name`."""
        return self.name(function)

    @property
    def data_bucket_name(self) -> str:
        """Bucket name where names are free to choose (the local cloud). On AWS, CloudFormation
        generates globally unique bucket names; code always reads them from `Env.DATA_BUCKET`."""
        return self.name("data")

    @property
    def hosting_bucket_name(self) -> str:
        """See `data_bucket_name`; on AWS the name comes from `Env.HOSTING_BUCKET`."""
        return self.name("hosting")

    @property
    def variant_name(self) -> str:
        """Production variant name of both endpoints."""
        return "AllTraffic"

    # --- derived values ----------------------------------------------------------------------------

    def resolved_base_image_region(self, default_region: str | None) -> str:
        """Region for the containers' base images: `baseImageRegion`, else `default_region`
        (CDK_DEFAULT_REGION), else us-east-1. Only the Docker build uses it; the stacks stay
        environment-agnostic."""
        return self.base_image_region or default_region or "us-east-1"


def _is_cdk_key(key: str) -> bool:
    return ":" in key or key.startswith("@")
