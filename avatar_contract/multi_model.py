"""The names SageMaker's multi-model endpoint and the hosting container agree on (no dependencies).

SageMaker downloads `<ModelDataUrl><TargetModel>` (our `<owner>/<model_id>.tar.gz`), extracts it into
`/opt/ml/models/<model_name>/model/` and calls the container with that `model_name`: `POST /models
{model_name, url}`, `POST /models/<model_name>/invoke`, `DELETE /models/<model_name>`, each with the
original TargetModel in the `X-Amzn-SageMaker-Target-Model` header.

What `model_name` is: SageMaker's container contract calls it "an opaque identifier", not necessarily the
TargetModel, and does not say how it is derived. Triton's SageMaker front end (server repo,
`src/sagemaker_server.cc`) derives nothing either: it keys its loaded models on the `model_name` it is
given (`model_name_hash`) and uses the TargetModel header as the Triton model's name. So nothing on the
real path depends on a particular hash; what matters is that the name is a single URL path segment (the
TargetModel has slashes) and the same for one TargetModel every time. `model_name_for` is that one
stand-in, used wherever we play SageMaker's part: the local cloud, the tests and the benchmarks.
"""

from __future__ import annotations

import hashlib
from typing import Final

TARGET_MODEL_HEADER: Final = "X-Amzn-SageMaker-Target-Model"


def model_name_for(target_model: str) -> str:
    """The multi-model `model_name` for a TargetModel: 32 hex digits of its SHA-256."""
    if not target_model:
        raise ValueError("target_model must not be empty")
    return hashlib.sha256(target_model.encode()).hexdigest()[:32]
