"""The API's Lambda handlers: cold import time of each handler module (fresh interpreter each time, the
Lambda init phase's own work), and request latency through the local cloud (SigV4-signed client →
the SigV4-verifying API Gateway → the real handler in its Lambda runtime → moto), p50/p95 over 200
requests per route, on routes that do no model work (so model time is excluded by construction).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from avatar_contract.routes import FUNCTIONS
from benchmarks.common import REPO_ROOT, Figure, Result, Stats, repeat_timed

NAME = "lambda"
IMPORT_SNIPPET = (
    "import importlib, sys, time; t = time.perf_counter(); importlib.import_module(sys.argv[1]); "
    "print(time.perf_counter() - t)"
)
# What the stack sets at deploy time; handlers may read it at import.
HANDLER_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AVATAR_DATA_BUCKET": "bench-data",
    "AVATAR_HOSTING_BUCKET": "bench-hosting",
    "AVATAR_TRAINING_ENDPOINT": "bench-training",
    "AVATAR_HOSTING_ENDPOINT": "bench-hosting",
    "POWERTOOLS_SERVICE_NAME": "avatar-api",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "AvatarService",
}


def cold_import_seconds(module: str) -> float:
    env = {
        **os.environ,
        **HANDLER_ENV,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "lambdas"), str(REPO_ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-c", IMPORT_SNIPPET, module]
    out = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {out.stderr.strip()[-1500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def measure_latency(result: Result, count: int) -> None:
    from botocore.credentials import Credentials

    from avatar_client.client import AvatarApiError, AvatarClient
    from benchmarks.models import tiny_pipeline
    from local_cloud.cloud import LocalCloud

    def expect(status: int, call):
        def run() -> None:
            try:
                call()
            except AvatarApiError as error:
                if error.status != status:
                    raise
                return
            if status != 200:
                raise RuntimeError(f"expected HTTP {status}")

        return run

    with tempfile.TemporaryDirectory(prefix="bench-cloud-") as state:
        started = time.perf_counter()
        with LocalCloud(state_dir=Path(state), base_model_dir=tiny_pipeline()) as cloud:
            start_seconds = time.perf_counter() - started
            principal = cloud.principals[0]
            client = AvatarClient(
                cloud.api_url,
                cloud.region,
                credentials=Credentials(principal.access_key_id, principal.secret_access_key),
            )
            routes = {
                "GET /models (200)": expect(200, lambda: client.request("GET", "/models")),
                "GET /trainings/{id} unknown (404)": expect(
                    404, lambda: client.request("GET", "/trainings/t-00000000000000000000")
                ),
                "POST /models/{id}/generations unknown model (404)": expect(
                    404,
                    lambda: client.request(
                        "POST", "/models/m-00000000000000000000/generations", {"prompt": "a photo"}
                    ),
                ),
            }
            for route, call in routes.items():
                call()  # the first request warms the function (its cold start is the import figure)
                samples = Stats([seconds * 1000 for seconds in repeat_timed(call, count)])
                p95 = Stats([samples.quantile(0.95)])
                result.add(Figure(route, "latency, median = p50", "ms", samples, note=f"{count} requests"))
                result.add(Figure(route, "latency p95", "ms", p95, note=f"{count} requests"))
        result.notes.append(
            "local cloud start-up (moto, API Gateway, Lambda runtimes, training service, Triton): "
            f"{start_seconds:.1f} s"
        )


def run(toy: bool = False) -> Result:
    result = Result(NAME, "Lambda handlers: cold import and latency through the local cloud", toy)
    result.settings = {
        "import": "fresh interpreter per sample; PYTHONPATH=lambdas:. (the Lambda asset's layout)",
        "latency": "AvatarClient (SigV4) -> local API Gateway (verifies SigV4) -> handler, Lambda runtime",
        "requests_per_route": 10 if toy else 200,
    }
    repeats = 1 if toy else 5
    for function in FUNCTIONS:
        module = function.handler.rsplit(".", 1)[0]
        result.add(
            Figure(module, "cold import", "s", Stats([cold_import_seconds(module) for _ in range(repeats)]))
        )
    if toy:
        result.skip("latency through the local cloud", "starts the whole local cloud: not at toy size")
        return result
    measure_latency(result, 200)
    return result
