"""Build the CDK app: validated configuration, the two stacks, tags, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.base_images import hosting_base_image, training_base_image
from stacks.config import ServiceConfig
from stacks.service_stack import ServiceStack
from stacks.stateful_stack import StatefulStack

STATEFUL_STACK_ID = "AvatarStorage"
SERVICE_STACK_ID = "AvatarService"
# CDK feature flags this app relies on (set in code so tests and the CLI synthesize the same thing).
FEATURE_FLAGS = {
    # Access-log delivery through a bucket policy instead of the legacy LogDeliveryWrite ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # The service stack imports the storage keys' ARNs: strong references stop the stateful stack from
    # deleting a key the service stack still uses.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


def create_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """The whole app. `context` adds to cdk.json's (tests pass settings and skip bundling here).

    The stacks are environment-agnostic (no account/region, no lookups), so synth needs no credentials.
    Only the containers' base images depend on a region, chosen at synth: context `baseImageRegion`,
    else CDK_DEFAULT_REGION (the CLI sets it from your AWS profile), else us-east-1.
    """
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    config = ServiceConfig.from_context(app.node.get_all_context())
    region = config.resolved_base_image_region(os.environ.get("CDK_DEFAULT_REGION"))

    stateful = StatefulStack(
        app,
        STATEFUL_STACK_ID,
        config=config,
        stack_name=config.name("storage"),
        description="Personalized Avatar Service: buckets and keys (stateful)",
    )
    ServiceStack(
        app,
        SERVICE_STACK_ID,
        config=config,
        storage=stateful.storage,
        owner_key=stateful.owner_key.secret,
        state=stateful.state,
        training_base_image=training_base_image(region),
        hosting_base_image=hosting_base_image(region),
        stack_name=config.name("service"),
        description="Personalized Avatar Service: API, SageMaker endpoints, status fan-out, monitoring",
    )
    Tags.of(app).add("application", "personalized-avatar-service")
    Tags.of(app).add("service-prefix", config.resource_prefix)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
