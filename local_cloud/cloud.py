"""`LocalCloud`: all nine steps on one machine — moto (S3, SNS, SQS, SageMaker control plane), the
SigV4-verifying API Gateway in front of the real Lambda handlers, and the SageMaker runtime in front of
the real training service and the real Triton hosting container.

    with LocalCloud() as cloud:
        cloud.api_url, cloud.principals, cloud.status_queue_url, cloud.client("s3"), ...
"""

from __future__ import annotations

import collections
import configparser
import json
import logging
import os
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from avatar_contract.families import FamilyName
from avatar_contract.keys import owner_of
from avatar_contract.moderation import INITIAL_DENY_LIST
from avatar_contract.names import Env, PackRunner
from avatar_contract.routes import FUNCTIONS, Function
from avatar_runtime.ports import free_port
from local_cloud import end_users
from local_cloud.apigateway import LocalApiGateway
from local_cloud.aws import SERVICE_ACCESS_KEY_ID, SERVICE_SECRET_ACCESS_KEY, MotoAws, Provisioned, provision
from local_cloud.components import Component, Components
from local_cloud.event_source import SqsEventSource
from local_cloud.identity_pool import LocalIdentityPool
from local_cloud.lambda_runtime import LambdaFunction
from local_cloud.moderation import ModerationStandIns
from local_cloud.processes import (
    ManagedProcess,
    kill_group,
    remove_files,
    shared_memory_of_group,
    wait_group_gone,
)
from local_cloud.s3_post_policy import S3PostPolicyFront
from local_cloud.sagemaker_runtime import LocalSageMakerRuntime
from local_cloud.settings import ACCOUNT_ID, DEFAULT_REGION, CloudSettings, load_settings
from local_cloud.sigv4 import Principal
from local_cloud.supervisor import Supervisor
from local_cloud.webhook_sink import WebhookSink
from random_sd.cache import TINY_PIPELINE_FOLDER, TINY_SDXL_PIPELINE_FOLDER, cached_tiny_pipeline
from stacks.config import ServiceConfig
from stacks.config_constants import (
    PUBLISHER_HANDLER,
    PUBLISHER_TIMEOUT_SECONDS,
    STATUS_EVENTS_BATCH_SIZE,
    STATUS_EVENTS_HANDLER,
    STATUS_EVENTS_TIMEOUT_SECONDS,
)
from stacks.config_lambda_env import (
    LambdaResources,
    api_environment,
    pack_runner_environment,
    publisher_environment,
    status_events_environment,
)

log = logging.getLogger("local_cloud")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local-cloud"
PRINCIPAL_NAMES = ("avatar-local-user-1", "avatar-local-user-2")
CONTAINER_START_TIMEOUT = 240.0
# Triton is ready in 7-20 s on 2 cores; once in a few dozen starts under load its Python backend stub
# has hung after loading the base model. Past this, the hosting container is restarted once (as SageMaker
# replaces a container that fails its start-up health check).
HOSTING_FIRST_START_TIMEOUT = 90.0
STATUS_EVENTS = Function("status-events", STATUS_EVENTS_HANDLER)  # stacks/training_events.py
MODEL_PUBLISHER = Function("model-publisher", PUBLISHER_HANDLER)  # stacks/publisher.py
PACK_RUNNER = Function("pack-runner", PackRunner.HANDLER)  # stacks/pack_runner.py
STOP_GRACE_SECONDS = 0.3  # a container's time to exit on its own before it is killed (its state is discarded)
EnvironmentBuilder = Callable[[ServiceConfig, LambdaResources], dict[str, str]]
LOCAL_IMAGES = {"training": "local/avatar-training:latest", "hosting": "local/avatar-hosting:latest"}


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_principal(name: str) -> Principal:
    """Fresh long-term-style IAM user credentials (only valid against this run's local cloud)."""
    upper = string.ascii_uppercase + "234567"
    return Principal(
        name=name,
        access_key_id="AKIA" + _random(upper, 16),
        secret_access_key=_random(string.ascii_letters + string.digits + "+/", 40),
        user_id="AIDA" + _random(upper, 17),
        account_id=ACCOUNT_ID,
    )


class LocalCloud:
    """Start with `start()` (or `with`), stop with `stop()`; everything listens on 127.0.0.1 only.

    Its parts are the `Component`s of `_components()` (local_cloud/components.py): started concurrently
    where independent, stopped in the reverse order. Each part's attribute is set by its component's start.
    """

    provisioned: Provisioned
    base_model: Path
    training: ManagedProcess
    hosting: Any  # hosting_server.triton.TritonProcess
    runtime: LocalSageMakerRuntime
    moderation: ModerationStandIns
    identity_pool: LocalIdentityPool
    end_user_pool: end_users.EndUserPool
    s3_front: S3PostPolicyFront  # what S3 enforces on presigned POSTs
    webhook_sink: WebhookSink  # stands in for a receiver's public HTTPS endpoint (webhook_sink.py)
    api: LocalApiGateway

    def __init__(
        self,
        state_dir: Path | None = None,
        base_model_dir: Path | None = None,
        region: str = DEFAULT_REGION,
        max_loaded_models: int = 8,
        extra_container_env: dict[str, str] | None = None,
        extra_lambda_env: dict[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.log_dir = self.state_dir / "logs"
        self.base_model_dir = base_model_dir
        self.region = region
        self.max_loaded_models = max_loaded_models
        self.extra_container_env = extra_container_env or {}
        self.extra_lambda_env = extra_lambda_env or {}  # e.g. other quotas (avatar_contract.names.Env)
        # cdk.json's context, with `context` applied over it (as `cdk -c key=value`: e.g. the base family).
        self.settings: CloudSettings = load_settings(region, overrides=context)
        self.principals: list[Principal] = [new_principal(n) for n in PRINCIPAL_NAMES]
        self._iam_users: dict[str, Principal] = {}  # access key id -> IAM user the API accepts
        self._renewals = 0
        self.aws = MotoAws(region)
        self.ports = {"training": free_port(), "hosting": free_port()}  # the containers' (SageMaker's)
        self.functions: dict[str, LambdaFunction] = {}
        self.event_sources: dict[str, SqsEventSource] = {}  # component name -> its SQS poller
        self.end_users: list[end_users.EndUser] = []  # demo end users of the user pool
        self._log_handler: logging.Handler | None = None
        self.supervisor = Supervisor()
        self.components = Components(self._components())
        self._started = False
        self._stop_lock = threading.Lock()

    def _components(self) -> list[Component]:
        """Every part of the local cloud, in its start order (stopped in the reverse order)."""
        return [
            Component("moto", lambda: self.aws.start(), lambda: self.aws.stop()),
            Component("base model", self._resolve_base_model),
            # The slowest first: Triton and its base model bound the start-up (docs/local-cloud.md).
            Component("hosting container", self._start_hosting, self._stop_hosting, ("moto", "base model")),
            Component(
                "training container", self._start_training, self._stop_training, ("moto", "base model")
            ),
            Component("resources", self._provision, after=("moto",)),
            Component(
                "moderation stand-ins", self._start_moderation, lambda: self.moderation.stop(), ("resources",)
            ),
            Component("end users", self._start_end_users, lambda: self.identity_pool.stop(), ("moto",)),
            Component("sagemaker runtime", self._start_runtime, lambda: self.runtime.stop(), ("resources",)),
            Component("s3 post-policy front", self._start_s3_front, lambda: self.s3_front.stop(), ("moto",)),
            Component("webhook sink", self._start_webhook_sink, lambda: self.webhook_sink.stop()),
            Component(
                "lambda functions",
                self._start_functions,
                self._close_functions,
                (
                    "resources",
                    "moderation stand-ins",
                    "end users",
                    "sagemaker runtime",
                    "s3 post-policy front",
                    "webhook sink",
                ),
            ),
            self._queue_consumer(
                "status consumer",  # as stacks/training_events.py deploys it
                STATUS_EVENTS,
                self.settings.status_events_function,
                lambda: (status_events_environment, self.provisioned.status_events_queue_url),
                timeout_seconds=STATUS_EVENTS_TIMEOUT_SECONDS,
                batch_size=STATUS_EVENTS_BATCH_SIZE,
            ),
            self._queue_consumer(
                "model publisher",  # as stacks/publisher.py deploys it: the only writer of models/*
                MODEL_PUBLISHER,
                self.settings.config.model_publisher_function_name,
                lambda: (publisher_environment, self.provisioned.publisher_queue_url),
                timeout_seconds=PUBLISHER_TIMEOUT_SECONDS,
                batch_size=1,
            ),
            self._queue_consumer(
                "pack runner",  # as stacks/pack_runner.py deploys it (one at a time: reserved concurrency)
                PACK_RUNNER,
                self.settings.config.pack_runner_function_name,
                lambda: (pack_runner_environment, self.provisioned.pack_queue_url),
                timeout_seconds=PackRunner.TIMEOUT_SECONDS,
                batch_size=PackRunner.BATCH_SIZE,
            ),
            Component("api gateway", self._start_api, lambda: self.api.stop(), ("lambda functions",)),
            Component(
                "lambda sandboxes",  # pre-warmed once the containers are up: no CPU taken from their start
                self._prewarm_functions,
                after=("hosting container", "training container", "api gateway"),
            ),
            Component(
                "supervisor",  # first to stop: nothing is restarted while the cloud stops
                self._supervise,
                self.supervisor.stop,
                (
                    "training container",
                    "hosting container",
                    "status consumer",
                    "model publisher",
                    "pack runner",
                ),
            ),
            Component("state files", self._write_files, self._remove_state, ("api gateway", "supervisor")),
        ]

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        started = time.monotonic()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()
        self._started = True
        try:
            self.components.start()
        except BaseException:
            self.stop()
            raise
        log.info("local cloud up in %.1f s: %s", time.monotonic() - started, self.api_url)
        return self

    def stop(self) -> None:
        """Stop every component that was started, in reverse order; safe to call twice."""
        with self._stop_lock:
            if not self._started:
                return
            self._started = False
            started = time.monotonic()
            self.components.stop()
            log.info("local cloud stopped in %.2f s", time.monotonic() - started)
            if self._log_handler is not None:
                logging.getLogger().removeHandler(self._log_handler)
                self._log_handler.close()
                self._log_handler = None

    # -- the components' starts and stops ---------------------------------------------------------------
    def _provision(self) -> None:
        self.provisioned = provision(self.aws, self.settings, LOCAL_IMAGES)

    def _start_moderation(self) -> None:
        self.moderation = ModerationStandIns(self.region, {SERVICE_ACCESS_KEY_ID: _service_principal()})
        self.moderation.start()
        self.aws.client("ssm").put_parameter(
            Name=self.settings.config.moderation_deny_list_parameter_name,
            Value=INITIAL_DENY_LIST,
            Type="String",
        )

    def _start_runtime(self) -> None:
        self.runtime = LocalSageMakerRuntime(
            self.aws.client,
            self.region,
            containers={
                self.settings.training_model: self._container_url("training"),
                self.settings.hosting_model: self._container_url("hosting"),
            },
            work_dir=self.state_dir / "sagemaker" / "models",
            principals={SERVICE_ACCESS_KEY_ID: _service_principal()},
            max_loaded_models=self.max_loaded_models,
        )
        self.runtime.start()

    def _start_s3_front(self) -> None:
        """The functions' S3 (and so the presigned POSTs they hand out) goes through the policy front."""
        self.s3_front = S3PostPolicyFront(
            self.aws.endpoint_url, {SERVICE_ACCESS_KEY_ID: SERVICE_SECRET_ACCESS_KEY}, self.region
        )
        self.s3_front.start()

    def _start_webhook_sink(self) -> None:
        self.webhook_sink = WebhookSink(self.state_dir / "webhook-sink")
        self.webhook_sink.start()

    def _start_functions(self) -> None:
        """The API's functions (stacks/api.py): invocable at once (a sandbox starts on demand, its cold start
        counted against the timeout as in Lambda); `_prewarm_functions` starts one warm sandbox each."""
        env = self.lambda_environment()
        for function in FUNCTIONS:
            self.functions[function.name] = LambdaFunction(
                function,
                env,
                self.log_dir,
                self.region,
                timeout_seconds=self.settings.lambda_timeout_seconds,
                physical_name=self.settings.function_name(function.name),
                webhook_ca=self.webhook_sink.ca_path,
            )

    def _prewarm_functions(self) -> None:
        """One sandbox per API function, importing its handler in the background (not waited for: a
        request meanwhile waits for that import, as for a cold start). Started once the containers are
        up, so that four handler imports (~0.6 s of CPU each) do not slow Triton's start on 2 cores."""
        for function in FUNCTIONS:
            self.functions[function.name].prewarm()

    def _close_functions(self) -> None:
        """Every function's sandboxes, closed together (each closes its own promptly)."""
        functions = list(self.functions.values())
        with ThreadPoolExecutor(max(1, len(functions)), thread_name_prefix="lambda-close") as pool:
            list(pool.map(lambda f: f.close(), functions))

    def _queue_consumer(
        self,
        name: str,
        function: Function,
        physical_name: str,
        wiring: Callable[[], tuple[EnvironmentBuilder, str]],
        timeout_seconds: float,
        batch_size: int,
    ) -> Component:
        """A function behind an SQS event source, as a stack deploys one: `wiring()` gives its environment's
        builder (stacks/config_lambda_env.py) and its queue's URL; one poller, one batch at a time. The
        supervisor restarts a poller whose thread died."""

        def start() -> None:
            build, queue_url = wiring()
            consumer = LambdaFunction(
                function,
                self._with_sink_port({**self._local_lambda_env(), **self.stack_environment(build)}),
                self.log_dir,
                self.region,
                timeout_seconds=timeout_seconds,
                max_concurrency=1,
                physical_name=physical_name,
                webhook_ca=self.webhook_sink.ca_path,
            )
            self.functions[function.name] = consumer
            source = SqsEventSource(self.aws.client("sqs"), queue_url, consumer, self.region, batch_size)
            self.event_sources[name] = source
            source.start()
            self.supervisor.watch(name, lambda: not source.is_running(), source.restart)

        def stop() -> None:
            if name in self.event_sources:
                self.event_sources.pop(name).stop()

        return Component(name, start, stop, after=("lambda functions",))

    def _start_api(self) -> None:
        self._iam_users.update((p.access_key_id, p) for p in self.principals)
        self.api = LocalApiGateway(
            self.functions,
            collections.ChainMap(self._iam_users, self.identity_pool.principals),  # type: ignore[arg-type]
            self.region,
            self.settings.stage,
            access_log=logging.getLogger("local_cloud.api_gateway"),
        )
        self.api.start()

    def _write_files(self) -> None:
        self._write_credentials()
        self._write_state()

    def _remove_state(self) -> None:
        (self.state_dir / "state.json").unlink(missing_ok=True)

    def republish_models(self, owner_prefix: str = "", limit: int = 10) -> list[dict[str, Any]]:
        """The operator's migration (docs/deploy.md "Upgrading"): invoke the model publisher with
        `{"republish": …}` page after page, as `aws lambda invoke` does, until the listing ends."""
        publisher, reports = self.functions[MODEL_PUBLISHER.name], []
        request: dict[str, Any] = {"owner_prefix": owner_prefix, "limit": limit}
        while True:
            reports.append(publisher.invoke({"republish": request}))
            if not reports[-1].get("continuation"):
                return reports
            request = {**request, "continuation": reports[-1]["continuation"]}

    def _start_end_users(self) -> None:
        """The user pool and its app client in moto, the demo end users, the identity pool's stand-in."""
        cognito_idp = self.aws.client("cognito-idp")
        user_pool_id, client_id = end_users.provision_user_pool(cognito_idp, self.settings)
        self.end_users = [end_users.add_user(cognito_idp, user_pool_id, e) for e in end_users.DEMO_USERS]
        self.identity_pool = end_users.identity_pool(
            self.settings, self.aws.endpoint_url, user_pool_id, client_id
        )
        self.identity_pool.start()
        self.end_user_pool = end_users.EndUserPool(
            self.region,
            user_pool_id,
            client_id,
            self.identity_pool.identity_pool_id,
            self.aws.endpoint_url,
            self.identity_pool.url,
        )

    def _supervise(self) -> None:
        """Restart a container that dies, as SageMaker does; the multi-model host forgets the models
        the dead Triton had loaded (the next call loads them again)."""

        def restart_training() -> None:
            self._stop_training()
            self._start_training()

        def restart_hosting() -> None:
            host = self.runtime.host(self.settings.hosting_endpoint)
            if host is not None:
                host.forget_all()
            self._stop_hosting()
            self._start_hosting()

        self.supervisor.watch("training", lambda: self.training.exited(), restart_training)
        self.supervisor.watch("hosting", lambda: not self.hosting.is_running(), restart_hosting)
        self.supervisor.start()

    # -- wiring --------------------------------------------------------------------------------------
    def _setup_logging(self) -> None:
        handler = logging.FileHandler(self.log_dir / "local-cloud.log")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
        )
        handler.setLevel(logging.INFO)
        root = logging.getLogger()
        root.addHandler(handler)
        logging.getLogger("local_cloud").setLevel(logging.INFO)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
        self._log_handler = handler

    def _resolve_base_model(self) -> None:
        if self.base_model_dir is not None:
            self.base_model = Path(self.base_model_dir).resolve()
            return
        # The tiny random-weight pipeline of the configured base family (cdk.json baseModel).
        sdxl = self.settings.config.base_model == FamilyName.SDXL_BASE_1_0
        folder = TINY_SDXL_PIPELINE_FOLDER if sdxl else TINY_PIPELINE_FOLDER
        cached = cached_tiny_pipeline(self.state_dir / "base-model", folder)
        if cached is None:  # torch/diffusers: imported only to build it
            import random_sd

            ensure = random_sd.ensure_tiny_sdxl_pipeline if sdxl else random_sd.ensure_tiny_pipeline
            cached = ensure(self.state_dir / "base-model")
        self.base_model = cached.resolve()

    def _aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": SERVICE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SERVICE_SECRET_ACCESS_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            Env.AWS_ENDPOINT_URL: self.aws.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def _base_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "LD_LIBRARY_PATH")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _container_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _container_env(self, name: str) -> dict[str, str]:
        """What SageMaker and the stacks give a container: AWS access (here: moto), the base model, a
        cache folder."""
        cache_dir = self.state_dir / "cache" / name
        cache_dir.mkdir(parents=True, exist_ok=True)
        return {
            **self._aws_env(),
            Env.BASE_MODEL: str(self.base_model),
            Env.BASE_FAMILY: str(self.settings.config.base_model),  # cdk.json baseModel, as the stacks set it
            Env.CACHE_DIR: str(cache_dir),
            Env.DATA_BUCKET: self.settings.data_bucket,
            Env.HOSTING_BUCKET: self.settings.hosting_bucket,
            **self.extra_container_env,
        }

    def _start_training(self) -> None:
        """The training container's entry point (its HTTP app) as a local process, until healthy."""
        env = {
            **self._base_env(),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "containers" / "training"), str(REPO_ROOT)]),
            **self._container_env("training"),
        }
        command = [sys.executable, "-m", "training_service.server", "--host", "127.0.0.1"]
        command += ["--port", str(self.ports["training"])]
        log_path, scratch = self.log_dir / "training-container.log", self.state_dir / "tmp" / "training"
        self.training = ManagedProcess("training", command, env, log_path, REPO_ROOT, scratch_dir=scratch)
        self.training.start()
        self.training.wait_healthy(f"{self._container_url('training')}/ping", CONTAINER_START_TIMEOUT)

    def _stop_training(self) -> None:
        if hasattr(self, "training"):
            self.training.stop(grace=STOP_GRACE_SECONDS)

    def _start_hosting(self) -> None:
        """The hosting container's start-up: tritonserver in SageMaker multi-model mode, base model loaded."""
        hosting_source = str(REPO_ROOT / "containers" / "hosting")
        if hosting_source not in sys.path:  # `python -m local_cloud` from the repository root
            sys.path.insert(0, hosting_source)
        from hosting_server.triton import TritonNotReady, start_triton  # the hosting container's launcher

        for timeout_s in (HOSTING_FIRST_START_TIMEOUT, CONTAINER_START_TIMEOUT):
            try:
                self.hosting = start_triton(
                    base_model=self.base_model,
                    http_port=self.ports["hosting"],
                    sagemaker=True,
                    log_path=self.log_dir / "hosting-triton.log",
                    env=self._container_env("hosting"),
                    startup_timeout_s=timeout_s,
                )
                return
            except TritonNotReady:
                if timeout_s == CONTAINER_START_TIMEOUT:
                    raise
                log.warning("the hosting container was not ready after %.0f s: starting it again", timeout_s)

    def _stop_hosting(self) -> None:
        """Triton and its Python backend stubs: killed at once (interrupted, Triton spends seconds unloading
        models whose state is discarded anyway), then the shared memory they held removed (a killed Triton
        leaves its /dev/shm regions behind)."""
        if not hasattr(self, "hosting"):
            return
        pgid = self.hosting.process.pid
        shared_memory = shared_memory_of_group(pgid)
        kill_group(pgid)  # Triton and its Python backend stubs
        self.hosting.stop(timeout_s=STOP_GRACE_SECONDS)  # reaps it; its model gate and work folder go
        wait_group_gone(pgid)
        remove_files(shared_memory)

    def _lambda_resources(self) -> LambdaResources:
        return LambdaResources(
            data_bucket=self.settings.data_bucket,
            hosting_bucket=self.settings.hosting_bucket,
            owner_key_secret=self.provisioned.owner_key_secret_arn,
            training_endpoint=self.settings.training_endpoint,
            hosting_endpoint=self.settings.hosting_endpoint,
            events_topic_arn=self.provisioned.events_topic_arn,
            status_events_queue_url=self.provisioned.status_events_queue_url,
            pack_queue_url=self.provisioned.pack_queue_url,  # what stacks/pack_runner.py adds
            # Relative to the code root, here the repository root (docs/packs.md).
            operator_packs=self.settings.config.operator_packs_file or "",
        )

    def _local_lambda_env(self) -> dict[str, str]:
        """What Lambda itself gives every function, pointed at this cloud's endpoints."""
        return {
            **self._base_env(),
            **self._aws_env(),
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.runtime.url,
            "AWS_ENDPOINT_URL_COMPREHEND": self.moderation.url,
            "AWS_ENDPOINT_URL_REKOGNITION": self.moderation.url,
            "AWS_ENDPOINT_URL_S3": self.s3_front.url,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }

    def stack_environment(self, build: EnvironmentBuilder = api_environment) -> dict[str, str]:
        """What the stack sets in a function's environment (`build`, from stacks/config_lambda_env.py, the
        one builder; default: the API functions'), with this cloud's identifiers, then `extra_lambda_env`."""
        return {**build(self.settings.config, self._lambda_resources()), **self.extra_lambda_env}

    def lambda_environment(self) -> dict[str, str]:
        """The API functions' environment: the stack's (`stack_environment`), the end users' trust
        (stacks/end_users.py), and the endpoint URLs of this cloud."""
        pool = self.identity_pool
        return self._with_sink_port(
            {
                **self._local_lambda_env(),
                Env.IDENTITY_POOL_ID: pool.identity_pool_id,
                Env.END_USER_ROLE_ARN: f"arn:aws:iam::{pool.account_id}:role/{pool.role_name}",
                **self.stack_environment(),
            }
        )

    def _with_sink_port(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with the webhook sink's port after the stack's allowed webhook ports (cdk.json
        `webhookPorts`): the only webhook setting the sink needs there (the rest is code: webhook_sink.py)."""
        if Env.WEBHOOK_PORTS not in env:
            return env
        return {**env, Env.WEBHOOK_PORTS: f"{env[Env.WEBHOOK_PORTS]},{self.webhook_sink.port}"}

    def child_pids(self) -> list[int]:
        """Every process the local cloud started (containers and Lambda sandboxes)."""
        pids = [pid for f in self.functions.values() for pid in f.pids()]
        if self.training.process is not None:
            pids.append(self.training.process.pid)
        return [*pids, self.hosting.process.pid]

    def listening_urls(self) -> list[str]:
        """Base URLs of everything the local cloud listens on."""
        urls = [self.aws.endpoint_url, self.api_url, self.runtime.url, *self.runtime.containers.values()]
        return [
            *urls,
            self.moderation.url,
            self.identity_pool.url,
            self.s3_front.url,
            self.webhook_sink.listening_url,
        ]

    # -- what clients need ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.api.url

    @property
    def status_queue_url(self) -> str:
        return self.provisioned.status_queue_url

    @property
    def events_topic_arn(self) -> str:
        """The training events topic (docs/events.md): subscribe with a filter policy on `owner`."""
        return self.provisioned.events_topic_arn

    def renew_principals(self) -> None:
        """Fresh principals, e.g. for each test module sharing one running cloud: new IAM users (new names,
        keys and ARNs; the earlier keys keep working) and the demo end users created anew (same e-mail
        addresses, new passwords and user pool subs), so new owner ids with nothing filed under them."""
        self._renewals += 1
        self.principals = [new_principal(f"{n}-{self._renewals}") for n in PRINCIPAL_NAMES]
        self._iam_users.update((p.access_key_id, p) for p in self.principals)
        if self.end_user_pool is not None:
            cognito_idp, pool_id = self.aws.client("cognito-idp"), self.end_user_pool.user_pool_id
            for user in self.end_users:
                cognito_idp.admin_delete_user(UserPoolId=pool_id, Username=user.email)
            self.end_users = [end_users.add_user(cognito_idp, pool_id, e) for e in end_users.DEMO_USERS]
        if self.api is not None:  # started: the credentials files and the state name the new ones
            self._write_credentials()
            self._write_state()

    def client(self, service: str) -> Any:
        """A boto3 client for moto's AWS (with the service role's credentials), for inspection."""
        return self.aws.client(service)

    def owner_id(self, principal: Principal) -> str:
        """The owner id this cloud's API files `principal`'s trainings and models under (for inspection)."""
        secret = self.client("secretsmanager").get_secret_value(
            SecretId=self.provisioned.owner_key_secret_arn
        )
        return owner_of(principal.arn, secret["SecretString"].encode())

    def end_user_env(self) -> dict[str, str]:
        """Where an end user's app signs in (`EndUserPool.environment`)."""
        return self.end_user_pool.environment()

    def _write_credentials(self) -> None:
        parser = configparser.ConfigParser()
        for principal in self.principals:
            parser[principal.name] = {
                "aws_access_key_id": principal.access_key_id,
                "aws_secret_access_key": principal.secret_access_key,
                "region": self.region,
                "# arn": principal.arn,
            }
        path = self.state_dir / "credentials"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# Local cloud credentials (valid only for this run, API {self.api_url})\n")
            parser.write(handle)
        users = {user.email: user.password for user in self.end_users}
        fd = os.open(self.state_dir / "end-users", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:  # the demo end users' passwords (valid only for this run)
            json.dump(users, handle, indent=2)

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws.endpoint_url,
            "sagemaker_runtime_url": self.runtime.url,
            "moderation_stand_ins_url": self.moderation.url,
            "status_queue_url": self.status_queue_url,
            "events_topic_arn": self.events_topic_arn,
            "region": self.region,
            "data_bucket": self.settings.data_bucket,
            "hosting_bucket": self.settings.hosting_bucket,
            "credentials_file": str(self.state_dir / "credentials"),
            "profiles": [p.name for p in self.principals],
            "end_users": self.end_user_env(),
            "end_users_file": str(self.state_dir / "end-users"),
            "logs": str(self.log_dir),
        }

    def _write_state(self) -> None:
        path = self.state_dir / "state.json"
        path.write_text(json.dumps(self.state(), indent=2))


def _service_principal() -> Principal:
    return Principal(
        name="avatar-local-service-role",
        access_key_id=SERVICE_ACCESS_KEY_ID,
        secret_access_key=SERVICE_SECRET_ACCESS_KEY,
        user_id="AROALOCALSERVICEROLE",
        account_id=ACCOUNT_ID,
    )
