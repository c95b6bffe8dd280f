"""Fixed values of the deployment that are not configuration (standard library and avatar_contract only).

The CDK app and the local cloud both import these, so the two use one source; platform limits the
Lambda code shares come from avatar_contract.names.
"""

from __future__ import annotations

from avatar_contract.names import API_TIMEOUT_SECONDS

# Fixed settings of the API tier.
API_STAGE_NAME = "v1"
FUNCTION_TIMEOUT_SECONDS = API_TIMEOUT_SECONDS  # API Gateway's default integration timeout
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "avatar-api",
    "POWERTOOLS_METRICS_NAMESPACE": "AvatarService",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    # X-Ray never records handler responses (presigned URLs, inline images) or exception messages.
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
}

# The status consumer (stacks/training_events.py; the local cloud runs it the same way).
STATUS_EVENTS_HANDLER = "avatar_api.handlers.status_events.lambda_handler"
STATUS_EVENTS_TIMEOUT_SECONDS = 60
STATUS_EVENTS_BATCH_SIZE = 10  # records per invocation (the SQS event source)
STATUS_EVENTS_MAX_RECEIVE_COUNT = 5  # receives before a record moves to the dead-letter queue
# AWS's advice for an SQS event source: six times the function's timeout.
STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS = STATUS_EVENTS_TIMEOUT_SECONDS * 6

# Per-owner generation quotas sized to the hosting fleet when cdk.json leaves them unset (docs/limits.md):
# one owner may use this share of the fleet's GPU-seconds per minute (hostingMaxCapacity x 60 s), but
# never less than one largest request renders in (avatar_api.settings: GENERATION_BUDGET_SECONDS minus
# GENERATION_OVERHEAD_SECONDS, checked by tests/unit/api/test_limits.py), and hold this share of its
# instances at once.
OWNER_FLEET_SHARE = 0.25
OWNER_INSTANCE_SHARE = 0.5
GENERATION_RENDER_SECONDS = 20.0

# The model publisher (stacks/publisher.py, issue 21 M1): one notification at a time, at most two at once.
PUBLISHER_HANDLER = "avatar_api.handlers.publisher.lambda_handler"
PUBLISHER_TIMEOUT_SECONDS = 300
PUBLISHER_MAX_CONCURRENCY = 2
PUBLISHER_VISIBILITY_TIMEOUT_SECONDS = PUBLISHER_TIMEOUT_SECONDS * 6

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Multi-model endpoints on GPU run only on single-GPU instances (docs/design.md §5). These GPU sizes carry
# more than one GPU and are rejected for hosting; unknown types pass (SageMaker is the final judge).
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
