"""`LocalCloud`: all nine steps on one machine — moto (S3, SNS, SQS, SageMaker control plane), the
SigV4-verifying API Gateway in front of the real Lambda handlers, and the SageMaker runtime in front of
the real training service and the real Triton hosting container.

    with LocalCloud() as cloud:
        cloud.api_url, cloud.principals, cloud.status_queue_url, cloud.client("s3"), ...
"""

from __future__ import annotations

import collections
import configparser
import contextlib
import json
import logging
import os
import secrets
import string
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from avatar_contract.keys import owner_of
from avatar_contract.moderation import ENV_VAR, INITIAL_DENY_LIST
from avatar_contract.names import Env, PackRunner
from avatar_contract.routes import FUNCTIONS, Function
from avatar_runtime.ports import free_port
from local_cloud import end_users
from local_cloud.apigateway import LocalApiGateway
from local_cloud.aws import SERVICE_ACCESS_KEY_ID, SERVICE_SECRET_ACCESS_KEY, MotoAws, Provisioned, provision
from local_cloud.event_source import SqsEventSource
from local_cloud.identity_pool import LocalIdentityPool
from local_cloud.lambda_runtime import LambdaFunction
from local_cloud.moderation import ModerationStandIns
from local_cloud.processes import ManagedProcess, kill_group
from local_cloud.s3_post_policy import S3PostPolicyFront
from local_cloud.sagemaker_runtime import LocalSageMakerRuntime
from local_cloud.settings import ACCOUNT_ID, DEFAULT_REGION, CloudSettings, load_settings
from local_cloud.sigv4 import Principal
from local_cloud.supervisor import Supervisor
from stacks.config import POWERTOOLS_ENVIRONMENT
from stacks.config_constants import (
    PUBLISHER_HANDLER,
    PUBLISHER_TIMEOUT_SECONDS,
    STATUS_EVENTS_BATCH_SIZE,
    STATUS_EVENTS_HANDLER,
    STATUS_EVENTS_TIMEOUT_SECONDS,
)

log = logging.getLogger("local_cloud")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local-cloud"
PRINCIPAL_NAMES = ("avatar-local-user-1", "avatar-local-user-2")
CONTAINER_START_TIMEOUT = 240.0
STATUS_EVENTS = Function("status-events", STATUS_EVENTS_HANDLER)  # stacks/training_events.py
MODEL_PUBLISHER = Function("model-publisher", PUBLISHER_HANDLER)  # stacks/publisher.py
PACK_RUNNER = Function("pack-runner", PackRunner.HANDLER)  # stacks/pack_runner.py
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
    """Start with `start()` (or `with`), stop with `stop()`; everything listens on 127.0.0.1 only."""

    def __init__(
        self,
        state_dir: Path | None = None,
        base_model_dir: Path | None = None,
        region: str = DEFAULT_REGION,
        max_loaded_models: int = 8,
        extra_container_env: dict[str, str] | None = None,
        extra_lambda_env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.log_dir = self.state_dir / "logs"
        self.base_model_dir = base_model_dir
        self.region = region
        self.max_loaded_models = max_loaded_models
        self.extra_container_env = extra_container_env or {}
        self.extra_lambda_env = extra_lambda_env or {}  # e.g. other quotas (avatar_contract.names.Env)
        self.settings: CloudSettings = load_settings(region)
        self.principals: list[Principal] = [new_principal(n) for n in PRINCIPAL_NAMES]
        self._iam_users: dict[str, Principal] = {}  # access key id -> IAM user the API accepts
        self._renewals = 0
        self.aws = MotoAws(region)
        self.provisioned: Provisioned | None = None
        self.training: ManagedProcess | None = None
        self.hosting: Any = None  # hosting_server.triton.TritonProcess
        self._hosting_future: Future[Any] | None = None
        self.runtime: LocalSageMakerRuntime | None = None
        self.moderation: ModerationStandIns | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.api: LocalApiGateway | None = None
        self.status_events: SqsEventSource | None = None  # the status consumer's SQS event source
        self.publisher: SqsEventSource | None = None  # the model publisher's SQS event source
        self.pack_runner: SqsEventSource | None = None  # the pack runner's SQS event source
        self.end_users: list[end_users.EndUser] = []  # demo end users of the user pool
        self.end_user_pool: end_users.EndUserPool | None = None
        self.identity_pool: LocalIdentityPool | None = None
        self.s3_front: S3PostPolicyFront | None = None  # what S3 enforces on presigned POSTs
        self._log_handler: logging.Handler | None = None
        self.supervisor = Supervisor()
        self._started = False
        self._stop_lock = threading.Lock()

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
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("local cloud up in %.1f s: %s", time.monotonic() - started, self.api_url)
        return self

    def _start(self) -> None:
        self.aws.start()
        log.info("moto server at %s", self.aws.endpoint_url)
        self.provisioned = provision(self.aws, self.settings, LOCAL_IMAGES)
        self._start_end_users()
        self.moderation = ModerationStandIns(self.region, {SERVICE_ACCESS_KEY_ID: _service_principal()})
        self.moderation.start()
        self.aws.client("ssm").put_parameter(
            Name=self.settings.config.moderation_deny_list_parameter_name,
            Value=INITIAL_DENY_LIST,
            Type="String",
        )
        base_model = self._base_model()
        training_port, hosting_port = free_port(), free_port()
        self.training = self._training_container(training_port, base_model)
        self.training.start()
        # Triton (and its base model) and the training service warm up while the rest is wired.
        hosting_start = ThreadPoolExecutor(1, thread_name_prefix="hosting-start")
        self._hosting_future = hosting_start.submit(self._start_hosting, hosting_port, base_model)
        hosting_start.shutdown(wait=False)

        self.runtime = LocalSageMakerRuntime(
            self.aws.client,
            self.region,
            containers={
                self.settings.training_model: f"http://127.0.0.1:{training_port}",
                self.settings.hosting_model: f"http://127.0.0.1:{hosting_port}",
            },
            work_dir=self.state_dir / "sagemaker" / "models",
            principals={SERVICE_ACCESS_KEY_ID: _service_principal()},
            max_loaded_models=self.max_loaded_models,
        )
        self.runtime.start()
        # The functions' S3 (and so the presigned POSTs they hand out) goes through the policy front.
        self.s3_front = S3PostPolicyFront(
            self.aws.endpoint_url, {SERVICE_ACCESS_KEY_ID: SERVICE_SECRET_ACCESS_KEY}, self.region
        )
        self.s3_front.start()
        lambda_env = self.lambda_environment()
        for function in FUNCTIONS:
            self.functions[function.name] = LambdaFunction(
                function,
                lambda_env,
                self.log_dir,
                self.region,
                timeout_seconds=self.settings.lambda_timeout_seconds,
                physical_name=self.settings.function_name(function.name),
            )
            self.functions[function.name].prewarm()
        self._start_status_consumer(lambda_env)
        self._start_publisher(lambda_env)
        self._start_pack_runner(lambda_env)
        self._iam_users.update((p.access_key_id, p) for p in self.principals)
        assert self.identity_pool is not None
        self.api = LocalApiGateway(
            self.functions,
            collections.ChainMap(self._iam_users, self.identity_pool.principals),  # type: ignore[arg-type]
            self.region,
            self.settings.stage,
            access_log=logging.getLogger("local_cloud.api_gateway"),
        )
        self.api.start()
        self.training.wait_healthy(f"http://127.0.0.1:{training_port}/ping", CONTAINER_START_TIMEOUT)
        self.hosting = self._hosting_future.result()
        self._supervise(training_port, hosting_port, base_model)
        self._write_credentials()
        self._write_state()

    def _start_status_consumer(self, lambda_env: dict[str, str]) -> None:
        """The status consumer as stacks/training_events.py deploys it: its environment (the events
        topic), its timeout, and an SQS event source on its queue with the stack's batch size."""
        assert self.provisioned is not None
        consumer = LambdaFunction(
            STATUS_EVENTS,
            {**lambda_env, Env.EVENTS_TOPIC_ARN: self.provisioned.events_topic_arn},
            self.log_dir,
            self.region,
            timeout_seconds=STATUS_EVENTS_TIMEOUT_SECONDS,
            max_concurrency=1,  # one poller: one batch at a time
            physical_name=self.settings.status_events_function,
        )
        self.functions[STATUS_EVENTS.name] = consumer
        source = SqsEventSource(
            self.aws.client("sqs"),
            self.provisioned.status_events_queue_url,
            consumer,
            self.region,
            batch_size=STATUS_EVENTS_BATCH_SIZE,
        )
        source.start()
        self.status_events = source
        self.supervisor.watch("status consumer", lambda: not source.is_running(), source.restart)

    def _start_publisher(self, lambda_env: dict[str, str]) -> None:
        """The model publisher as stacks/publisher.py deploys it: the only writer of models/*, on its own
        queue on the success topic, forwarding each notification to the status consumer's queue."""
        assert self.provisioned is not None
        config = self.settings.config
        publisher = LambdaFunction(
            MODEL_PUBLISHER,
            {**lambda_env, Env.STATUS_EVENTS_QUEUE_URL: self.provisioned.status_events_queue_url},
            self.log_dir,
            self.region,
            timeout_seconds=PUBLISHER_TIMEOUT_SECONDS,
            max_concurrency=1,
            physical_name=config.model_publisher_function_name,
        )
        self.functions[MODEL_PUBLISHER.name] = publisher
        source = SqsEventSource(
            self.aws.client("sqs"), self.provisioned.publisher_queue_url, publisher, self.region, batch_size=1
        )
        source.start()
        self.publisher = source
        self.supervisor.watch("model publisher", lambda: not source.is_running(), source.restart)

    def _start_pack_runner(self, lambda_env: dict[str, str]) -> None:
        """The pack runner as stacks/pack_runner.py deploys it: its timeout, the events topic, and an SQS
        event source on its work queue with the stack's batch size; one invocation at a time (the local
        stand-in for its reserved concurrency)."""
        assert self.provisioned is not None
        runner = LambdaFunction(
            PACK_RUNNER,
            {**lambda_env, Env.EVENTS_TOPIC_ARN: self.provisioned.events_topic_arn},
            self.log_dir,
            self.region,
            timeout_seconds=PackRunner.TIMEOUT_SECONDS,
            max_concurrency=1,
            physical_name=self.settings.config.pack_runner_function_name,
        )
        self.functions[PACK_RUNNER.name] = runner
        source = SqsEventSource(
            self.aws.client("sqs"),
            self.provisioned.pack_queue_url,
            runner,
            self.region,
            batch_size=PackRunner.BATCH_SIZE,
        )
        source.start()
        self.pack_runner = source
        self.supervisor.watch("pack runner", lambda: not source.is_running(), source.restart)

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

    def _supervise(self, training_port: int, hosting_port: int, base_model: Path) -> None:
        """Restart a container that dies, as SageMaker does; the multi-model host forgets the models
        the dead Triton had loaded (the next call loads them again)."""
        training = self.training
        assert training is not None

        def restart_training() -> None:
            training.stop()
            training.start()
            training.wait_healthy(f"http://127.0.0.1:{training_port}/ping", CONTAINER_START_TIMEOUT)

        def restart_hosting() -> None:
            host = self.runtime.host(self.settings.hosting_endpoint) if self.runtime else None
            if host is not None:
                host.forget_all()
            old = self.hosting
            old.stop()
            kill_group(old.process.pid)  # its Python backend stubs, if they outlived it
            self.hosting = self._start_hosting(hosting_port, base_model)

        self.supervisor.watch("training", training.exited, restart_training)
        self.supervisor.watch("hosting", lambda: not self.hosting.is_running(), restart_hosting)
        self.supervisor.start()

    def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe to call twice."""
        with self._stop_lock:
            if not self._started:
                return
            self._started = False
            self.supervisor.stop()  # first: nothing is restarted while the cloud stops
            if self.hosting is None and self._hosting_future is not None:
                with contextlib.suppress(Exception):  # a start-up that failed midway: wait for Triton
                    self.hosting = self._hosting_future.result()
            hosting_pgid = self.hosting.process.pid if self.hosting else None
            steps = [
                ("api gateway", self.api.stop if self.api else None),
                ("status consumer", self.status_events.stop if self.status_events else None),
                ("model publisher", self.publisher.stop if self.publisher else None),
                ("pack runner", self.pack_runner.stop if self.pack_runner else None),
                *((f"lambda {n}", f.close) for n, f in self.functions.items()),
                ("sagemaker runtime", self.runtime.stop if self.runtime else None),
                ("s3 post-policy front", self.s3_front.stop if self.s3_front else None),
                ("moderation stand-ins", self.moderation.stop if self.moderation else None),
                ("identity pool stand-in", self.identity_pool.stop if self.identity_pool else None),
                ("hosting container", self.hosting.stop if self.hosting else None),
                ("hosting processes", (lambda: kill_group(hosting_pgid)) if hosting_pgid else None),
                ("training container", self.training.stop if self.training else None),
                ("moto", self.aws.stop if self.aws.endpoint_url else None),
            ]
            for name, step in steps:
                if step is None:
                    continue
                try:
                    step()
                except Exception:
                    log.exception("stopping %s failed", name)
            (self.state_dir / "state.json").unlink(missing_ok=True)
            log.info("local cloud stopped")
            if self._log_handler is not None:
                logging.getLogger().removeHandler(self._log_handler)
                self._log_handler.close()
                self._log_handler = None

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

    def _base_model(self) -> Path:
        if self.base_model_dir is not None:
            return Path(self.base_model_dir).resolve()
        from avatar_contract.families import FamilyName, family_from_env
        from random_sd import ensure_tiny_pipeline, ensure_tiny_sdxl_pipeline  # torch: only when needed

        # The tiny random-weight pipeline of the configured base family (AVATAR_BASE_FAMILY).
        sdxl = family_from_env().name == FamilyName.SDXL_BASE_1_0
        ensure = ensure_tiny_sdxl_pipeline if sdxl else ensure_tiny_pipeline
        return Path(ensure(self.state_dir / "base-model")).resolve()

    def _aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": SERVICE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SERVICE_SECRET_ACCESS_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            Env.AWS_ENDPOINT_URL: self.aws.endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.runtime.url if self.runtime else "",
            "AWS_ENDPOINT_URL_COMPREHEND": self.moderation.url if self.moderation else "",
            "AWS_ENDPOINT_URL_REKOGNITION": self.moderation.url if self.moderation else "",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def _base_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "LD_LIBRARY_PATH")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _container_env(self, name: str, base_model: Path) -> dict[str, str]:
        """What SageMaker and the stacks give a container: AWS access (here: moto), the base model, a
        cache folder."""
        cache_dir = self.state_dir / "cache" / name
        cache_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self._aws_env(),
            Env.BASE_MODEL: str(base_model),
            Env.BASE_FAMILY: str(self.settings.config.base_model),  # cdk.json baseModel, as the stacks set it
            Env.CACHE_DIR: str(cache_dir),
            Env.DATA_BUCKET: self.settings.data_bucket,
            Env.HOSTING_BUCKET: self.settings.hosting_bucket,
            **self.extra_container_env,
        }
        for service in ("SAGEMAKER_RUNTIME", "COMPREHEND", "REKOGNITION"):
            env.pop(f"AWS_ENDPOINT_URL_{service}", None)
        return env

    def _training_container(self, port: int, base_model: Path) -> ManagedProcess:
        """The training container's entry point (its HTTP app) as a local process."""
        env = {
            **self._base_env(),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "containers" / "training"), str(REPO_ROOT)]),
            **self._container_env("training", base_model),
        }
        command = [
            sys.executable,
            "-m",
            "training_service.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        log_path, scratch = self.log_dir / "training-container.log", self.state_dir / "tmp" / "training"
        return ManagedProcess("training", command, env, log_path, REPO_ROOT, scratch_dir=scratch)

    def _start_hosting(self, port: int, base_model: Path) -> Any:
        """The hosting container's start-up: tritonserver in SageMaker multi-model mode, base model loaded."""
        hosting_source = str(REPO_ROOT / "containers" / "hosting")
        if hosting_source not in sys.path:  # `python -m local_cloud` from the repository root
            sys.path.insert(0, hosting_source)
        from hosting_server.triton import start_triton  # the hosting container's own launcher

        return start_triton(
            base_model=base_model,
            http_port=port,
            sagemaker=True,
            log_path=self.log_dir / "hosting-triton.log",
            env=self._container_env("hosting", base_model),
            startup_timeout_s=CONTAINER_START_TIMEOUT,
        )

    def lambda_environment(self) -> dict[str, str]:
        """The Lambda functions' environment: what the stack sets, plus the endpoint URLs of this cloud."""
        config = self.settings.config
        env = {
            **self._base_env(),
            **self._aws_env(),
            Env.DATA_BUCKET: self.settings.data_bucket,
            Env.HOSTING_BUCKET: self.settings.hosting_bucket,
            Env.OWNER_KEY_SECRET: self.provisioned.owner_key_secret_arn if self.provisioned else "",
            Env.TRAINING_ENDPOINT: self.settings.training_endpoint,
            Env.HOSTING_ENDPOINT: self.settings.hosting_endpoint,
            Env.BASE_FAMILY: str(config.base_model),
            Env.TRAINING_INSTANCE_TYPE: self.settings.training_instance_type,
            Env.HOSTING_INSTANCE_TYPE: self.settings.hosting_instance_type,
            Env.STATE_TABLE: self.settings.state_table,
            Env.PACK_QUEUE_URL: self.provisioned.pack_queue_url if self.provisioned else "",
            # Relative to the code root, here the repository root (docs/packs.md).
            Env.OPERATOR_PACKS: config.operator_packs_file or "",
            **self._end_user_trust(),
            **config.quota_environment(),
            **config.webhook_environment(),
            **POWERTOOLS_ENVIRONMENT,
            ENV_VAR: config.moderation_policy(config.moderation_deny_list_parameter_name).to_json(),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "AWS_ENDPOINT_URL_S3": self.s3_front.url if self.s3_front else "",
            **dict(self.settings.lambda_environment),
            **self.extra_lambda_env,
        }
        return env

    def child_pids(self) -> list[int]:
        """Every process the local cloud started (containers and Lambda sandboxes)."""
        pids = [pid for f in self.functions.values() for pid in f.pids()]
        if self.training is not None and self.training.process is not None:
            pids.append(self.training.process.pid)
        if self.hosting is not None:
            pids.append(self.hosting.process.pid)
        return pids

    def listening_urls(self) -> list[str]:
        """Base URLs of everything the local cloud listens on."""
        urls = [self.aws.endpoint_url, self.api_url]
        if self.runtime is not None:
            urls += [self.runtime.url, *self.runtime.containers.values()]
        if self.moderation is not None:
            urls.append(self.moderation.url)
        if self.identity_pool is not None:
            urls.append(self.identity_pool.url)
        if self.s3_front is not None:
            urls.append(self.s3_front.url)
        return [url for url in urls if url]

    # -- what clients need ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.api.url if self.api else ""

    @property
    def status_queue_url(self) -> str:
        return self.provisioned.status_queue_url if self.provisioned else ""

    @property
    def events_topic_arn(self) -> str:
        """The training events topic (docs/events.md): subscribe with a filter policy on `owner`."""
        return self.provisioned.events_topic_arn if self.provisioned else ""

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
        if self.provisioned is None:
            raise RuntimeError("the local cloud is not started")
        secret = self.client("secretsmanager").get_secret_value(
            SecretId=self.provisioned.owner_key_secret_arn
        )
        return owner_of(principal.arn, secret["SecretString"].encode())

    def _end_user_trust(self) -> dict[str, str]:
        """What stacks/end_users.py tells the functions: the identity pool and the end users' role."""
        pool = self.identity_pool
        if pool is None:
            return {}
        return {
            Env.IDENTITY_POOL_ID: pool.identity_pool_id,
            Env.END_USER_ROLE_ARN: f"arn:aws:iam::{pool.account_id}:role/{pool.role_name}",
        }

    def end_user_env(self) -> dict[str, str]:
        """Where an end user's app signs in (boto3 reads the AWS_ENDPOINT_URL_<SERVICE> variables)."""
        pool = self.end_user_pool
        if pool is None:
            return {}
        return {
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": pool.cognito_idp_url,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY": pool.cognito_identity_url,
            "AVATAR_USER_POOL_ID": pool.user_pool_id,
            "AVATAR_USER_POOL_CLIENT_ID": pool.client_id,
            "AVATAR_IDENTITY_POOL_ID": pool.identity_pool_id,
        }

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
            "sagemaker_runtime_url": self.runtime.url if self.runtime else "",
            "moderation_stand_ins_url": self.moderation.url if self.moderation else "",
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
