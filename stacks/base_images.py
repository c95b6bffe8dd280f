"""Base images of the two SageMaker containers, per region, resolved by the SageMaker Python SDK.

The training image builds FROM the SageMaker PyTorch GPU inference image, the hosting image FROM the
SageMaker NVIDIA Triton image; both live in AWS-owned ECR registries whose account differs by region.
The SDK's `image_uris.retrieve` knows those registries, so nothing here is a hand-written account map.

Why a generated file instead of calling the SDK at synth time: the SDK (`sagemaker-core`) requires
`importlib-metadata<7`, and `nvidia-pytriton` (the local cloud's Triton) requires `>=7.0.1`, so the two
cannot share one environment. `base_images.json` next to this module is the SDK's output for every
region; synth reads it (offline, instantly). Refresh it with the SDK in a throwaway environment:

    python3 -m venv /tmp/sm && /tmp/sm/bin/pip install sagemaker-core==2.27.0
    /tmp/sm/bin/python stacks/base_images.py            # rewrites stacks/base_images.json

Bump the versions below to move to newer base images.
"""

from __future__ import annotations

import json
from pathlib import Path

SDK_REQUIREMENT = "sagemaker-core==2.27.0"
PYTORCH_VERSION = "2.6"
PYTORCH_PY_VERSION = "py312"
TRITON_VERSION = "26.05"
# Any GPU instance selects the GPU image; the images do not differ between GPU sizes.
_GPU_INSTANCE = "ml.g5.xlarge"

BASE_IMAGES_FILE = Path(__file__).with_name("base_images.json")


class UnknownRegionError(ValueError):
    """No base image is known for the requested region."""


def _load() -> dict:
    return json.loads(BASE_IMAGES_FILE.read_text())


def training_base_image(region: str) -> str:
    """`BASE_IMAGE` build argument of containers/training/Dockerfile for `region`."""
    return _image(region, "training")


def hosting_base_image(region: str) -> str:
    """`BASE_IMAGE` build argument of containers/hosting/Dockerfile for `region`."""
    return _image(region, "hosting")


def _image(region: str, role: str) -> str:
    images = _load()["regions"].get(region)
    if images is None:
        known = ", ".join(sorted(_load()["regions"]))
        raise UnknownRegionError(
            f"no SageMaker base images known for region {region!r} (context 'baseImageRegion'); "
            f"known regions: {known}"
        )
    return images[role]


def _resolve_with_sdk() -> dict:  # pragma: no cover - runs only in the SDK's own environment
    from importlib import resources

    from sagemaker.core import image_uris

    config_dir = resources.files("sagemaker.core") / "image_uri_config"
    pytorch = json.loads((config_dir / "pytorch.json").read_text())["inference"]
    version = pytorch["version_aliases"].get(PYTORCH_VERSION, PYTORCH_VERSION)
    triton = json.loads((config_dir / "sagemaker-tritonserver.json").read_text())
    regions = sorted(
        set(pytorch["versions"][version]["registries"])
        & set(triton["versions"][TRITON_VERSION]["registries"])
    )
    resolved = {}
    for region in regions:
        resolved[region] = {
            "training": image_uris.retrieve(
                "pytorch",
                region=region,
                version=PYTORCH_VERSION,
                py_version=PYTORCH_PY_VERSION,
                instance_type=_GPU_INSTANCE,
                image_scope="inference",
            ),
            "hosting": image_uris.retrieve(
                "sagemaker-tritonserver",
                region=region,
                version=TRITON_VERSION,
                instance_type=_GPU_INSTANCE,
                image_scope="inference",
            ),
        }
    return {
        "generated_by": f"stacks/base_images.py with {SDK_REQUIREMENT} (sagemaker.core.image_uris.retrieve)",
        "training": f"pytorch {PYTORCH_VERSION} GPU inference, {PYTORCH_PY_VERSION}",
        "hosting": f"sagemaker-tritonserver {TRITON_VERSION}",
        "regions": resolved,
    }


if __name__ == "__main__":  # pragma: no cover
    BASE_IMAGES_FILE.write_text(json.dumps(_resolve_with_sdk(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {BASE_IMAGES_FILE}")
