"""The staged base model both endpoints load (issue 10 A): `s3://<data bucket>/base-models/<digest>/`.

The digest comes from the committed manifest of the base family (`baseModel`; `baseModelManifest` names
another), so synth needs no AWS call and a new manifest is a new prefix (and new SageMaker models). Both
containers get the URI, the digest they must verify against, the family (`AVATAR_BASE_FAMILY`) and
`HF_HUB_OFFLINE=1` (they never contact the Hub); their roles may read exactly that
prefix. `make deploy` checks the prefix is staged before it deploys the service stack.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations
from aws_cdk import aws_iam as iam
from constructs import Construct

from avatar_contract.names import Env
from avatar_runtime.base_model import STAGE_COMMAND, Manifest, ManifestError
from stacks.config import ConfigError, ServiceConfig
from stacks.grants import grant_objects
from stacks.nag import acknowledge
from stacks.storage import StorageRefs, nag_bucket_name

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def load_manifest(config: ServiceConfig) -> Manifest:
    """The configured manifest (the family's unless `baseModelManifest` names another); a missing or
    malformed file fails synth naming the key."""
    path = Path(config.base_model_manifest)
    key = "baseModelManifest" if config.base_model_manifest_override else "baseModel"
    try:
        return Manifest.load(path if path.is_absolute() else REPOSITORY_ROOT / path)
    except ManifestError as exc:
        raise ConfigError(f"cdk.json context {key!r}: {exc}") from exc


class StagedBaseModel:
    """Where the base model is staged, and what a container that loads it needs."""

    def __init__(self, scope: Construct, config: ServiceConfig, storage: StorageRefs) -> None:
        self.config = config
        self.storage = storage
        self.manifest = load_manifest(config)
        self.prefix = self.manifest.prefix
        self.uri = storage.data_bucket.s3_url_for_object(self.prefix)
        problems = self.manifest.problems()
        if problems:
            Annotations.of(scope).add_warning_v2(
                "avatar:base-model-not-pinned",
                f"{config.base_model_manifest} is not pinned ({'; '.join(problems)}): it cannot be staged, "
                f"so `make deploy` stops before the service stack; see docs/base-model.md",
            )

    @property
    def environment(self) -> dict[str, str]:
        return {
            Env.BASE_MODEL: self.uri,
            Env.BASE_MODEL_SHA256: self.manifest.digest,
            Env.BASE_FAMILY: str(self.config.base_model),
            "HF_HUB_OFFLINE": "1",
        }

    def grant_read(self, role: iam.Role) -> None:
        """GetObject on `base-models/<digest>/*`, ListBucket limited to it, kms:Decrypt on the data key."""
        grant_objects(role, self.storage.data_bucket, self.storage.data_key, [self.prefix], read=True)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{nag_bucket_name(self.config, 'data')}/"
            f"{self.prefix}*]",
            f"The staged base model's files (one content-addressed prefix, written by `{STAGE_COMMAND}`).",
        )
