"""Start Triton the way the hosting container does: SageMaker multi-model mode, base model loaded at start.

Used by the container's `serve`, the tests, the local cloud and the benchmarks. The flags follow Triton's
own SageMaker `serve` script (server repo, docker/sagemaker/serve): SageMaker front end only (no HTTP/gRPC/
metrics), explicit model control, model namespacing, the Python backend's shared-memory sizes. We add
`--load-model=sd_base` with the base model's repository (the script's MME mode points the repository at an
empty dummy directory because it has no model to load at start) and a short `--exit-timeout-secs`. In
SageMaker mode Triton listens on an internal port behind the model gate (hosting_server.gate), which
refuses any per-user model that is not code-free before Triton sees it.

Per-user models name the Python-based backend `avatar_lora` (containers/hosting/backends/avatar_lora/):
in the image it is installed under /opt/tritonserver/backends/; from the wheel it is linked into the
assembled backend directory next to `python`.

Where the binary comes from:
- in the hosting image: the system `tritonserver` (/opt/tritonserver) and its Python backend;
- on a developer machine: the `nvidia-pytriton` wheel (pytriton/tritonserver/{bin,backends}) with the
  Python backend stub built for the running Python (python_backend_stubs/<major.minor>).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from avatar_contract.families import FamilyName
from avatar_contract.names import Env, Runtime, Triton
from avatar_runtime.ports import free_port
from hosting_server.gate import ModelGate
from hosting_server.loopback import (
    ALL_INTERFACES,
    LOOPBACK,
    LoopbackUnavailable,
    check_bind_address,
    non_loopback_listeners,
    preload_env,
)

SYSTEM_TRITON_HOME = Path("/opt/tritonserver")
REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL_TEMPLATES = REPO_ROOT / "model_templates"
# Our Python-based backends (one folder each with its model.py), as the hosting image installs them.
OUR_BACKENDS = Path(__file__).resolve().parents[1] / "backends"


class TritonNotAvailable(RuntimeError):
    """No runnable tritonserver on this machine (tests skip with this message)."""


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become healthy; the message ends with its log tail."""


class TritonNotReady(TritonStartError):
    """tritonserver kept running but did not answer its health check in time (it was stopped)."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backend_dir: Path
    library_dirs: tuple[Path, ...] = ()
    python_bin: Path | None = None  # put first on PATH for the Python backend stub


def _python_packages_path() -> list[str]:
    """Where this interpreter's packages and our own packages (avatar_contract, avatar_runtime,
    hosting_server) live."""
    import avatar_contract
    import avatar_runtime
    import hosting_server

    paths = [
        str(Path(avatar_contract.__file__).resolve().parents[1]),
        str(Path(avatar_runtime.__file__).resolve().parents[1]),
        str(Path(hosting_server.__file__).resolve().parents[1]),
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    ]
    return list(dict.fromkeys(paths))


def _stub_base_interpreter(stub: Path) -> Path:
    """The Python installation whose libpython the stub links against: its standard library must match
    that libpython exactly (a venv built on another 3.x.y build of Python fails on C modules like _ssl)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        linked = subprocess.run(["ldd", str(stub)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        linked = ""
    for line in linked.splitlines():
        if "libpython" in line and "=>" in line:
            library = Path(os.path.realpath(line.split("=>")[1].split("(")[0].strip()))
            if str(library).startswith(("/usr/lib", "/lib")) and Path(f"/usr/bin/python{version}").is_file():
                return Path(f"/usr/bin/python{version}")
    return Path(sys.base_prefix) / "bin" / f"python{version}"


def stub_python_env(stub: Path, work_dir: Path) -> Path:
    """A minimal virtual environment for the Python backend stub; returns its `bin` folder.

    The stub embeds libpython and runs an isolated interpreter (PYTHONPATH is ignored) whose prefix comes
    from the first `python3` on PATH. This environment's `python3` is the interpreter matching the stub's
    libpython, and a .pth file in its site-packages adds this process's packages and our own."""
    env_dir = work_dir / "stub-python"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = _stub_base_interpreter(stub)
    (env_dir / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("python3", f"python{version}", "python"):
        link = env_dir / "bin" / name
        if not link.exists():
            link.symlink_to(base)
    (env_dir / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {version}\n"
    )
    site_packages = env_dir / "lib" / f"python{version}" / "site-packages"
    site_packages.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in stub_extra_packages()] + _python_packages_path()
    (site_packages / "avatar-hosting.pth").write_text("\n".join(paths) + "\n")
    return env_dir / "bin"


# The Python backend stub of nvidia-pytriton (0.5.7 / Triton 24.04; 0.7.0 / Triton 24.10, whose wheel
# declares numpy<2) is built with a pybind11 that predates NumPy 2: under NumPy 2 it misreads dtype sizes
# and corrupts every tensor it hands to Python (a BYTES input becomes its first byte repeated). The stub
# therefore gets NumPy 1.26 first on its path, in a folder of its own; everything else (torch, diffusers,
# ...) comes from this interpreter's site-packages and works with NumPy 1.26. The hosting image has no such
# problem: its Python backend matches its NumPy. Its version: containers/hosting/triton-stub.txt, installed
# from its hash-pinned lock (`make locks`).
STUB_LOCK = Path(__file__).resolve().parents[1] / "triton-stub.lock"
STUB_DEPS_ENV = "AVATAR_TRITON_STUB_DEPS"


def stub_extra_packages() -> list[Path]:
    """Folders to put before site-packages for the wheel's stub (installed once with pip, then cached)."""
    import numpy

    if int(numpy.__version__.split(".")[0]) < 2:
        return []
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    [pin] = re.findall(r"^numpy==[^\s;]+", STUB_LOCK.read_text(), re.MULTILINE)
    root = Path(os.environ.get(STUB_DEPS_ENV) or Path.home() / ".cache" / "avatar-triton-stub")
    target = root / f"{pin.replace('==', '-')}-{tag}"
    if (target / "numpy" / "__init__.py").is_file():
        return [target]
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".install-"))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    command += ["--require-hashes", "--only-binary", ":all:", "--target", str(staging), "-r", str(STUB_LOCK)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise TritonNotAvailable(
            f"the Triton Python stub needs {pin} (its pybind11 predates NumPy 2) and pip could not "
            f"install it into {target}; pre-install it with: {' '.join(command[:-4])} --target {target} "
            f"-r {STUB_LOCK}\n{result.stderr[-2000:]}"
        )
    try:
        staging.rename(target)
    except OSError:  # another process installed it first
        shutil.rmtree(staging, ignore_errors=True)
    return [target]


def find_triton(work_dir: Path | None = None) -> TritonInstall:
    """The system Triton if there is one, else the one in the nvidia-pytriton wheel (with a backend
    directory assembled in `work_dir` whose Python stub matches the running interpreter)."""
    system_binary = SYSTEM_TRITON_HOME / "bin" / "tritonserver"
    if system_binary.is_file() and os.environ.get("AVATAR_TRITON_FROM_WHEEL") != "1":
        return TritonInstall(system_binary, SYSTEM_TRITON_HOME / "backends")
    # Located, not imported: the wheel is installed with --no-deps (requirements-triton.txt), so the
    # pytriton library's own imports need not resolve; only its binaries are used.
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonNotAvailable("no /opt/tritonserver and no nvidia-pytriton wheel installed")
    if sys.platform != "linux":
        raise TritonNotAvailable(f"the nvidia-pytriton tritonserver runs on Linux only, not {sys.platform}")
    package = Path(next(iter(spec.submodule_search_locations)))
    dist = package / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    binary = dist / "bin" / "tritonserver"
    if not binary.is_file() or not stub.is_file():
        raise TritonNotAvailable(f"the nvidia-pytriton wheel has no tritonserver or Python {version} stub")
    # The Python backend runs the stub found next to libtriton_python.so, so assemble that folder. Copies,
    # not links: Triton refuses a Python-based backend whose library resolves outside its directory.
    backends = Path(work_dir or tempfile.mkdtemp(prefix="triton-backends-")) / "backends"
    python_backend = backends / "python"
    python_backend.mkdir(parents=True, exist_ok=True)
    for source in (*(dist / "backends" / "python").glob("*.*"), stub):
        if not (python_backend / source.name).exists():
            shutil.copy2(source, python_backend / source.name)
    for backend in sorted(p for p in OUR_BACKENDS.iterdir() if (p / "model.py").is_file()):
        (backends / backend.name).mkdir(exist_ok=True)
        shutil.copy2(backend / "model.py", backends / backend.name / "model.py")
    libs = package.parent / "nvidia_pytriton.libs"
    return TritonInstall(binary, backends, (libs,), stub_python_env(stub, backends.parent))


def sagemaker_args(port: int, shm_default_bytes: int = 2**24, shm_growth_bytes: int = 2**20) -> list[str]:
    """The flags of Triton's SageMaker `serve` script (multi-model mode)."""
    return [
        "--allow-sagemaker=true",
        "--allow-grpc=false",
        "--allow-http=false",
        "--allow-metrics=false",
        "--model-control-mode=explicit",
        "--model-namespacing=true",
        f"--sagemaker-port={port}",
        f"--backend-config=python,shm-default-byte-size={shm_default_bytes}",
        f"--backend-config=python,shm-growth-byte-size={shm_growth_bytes}",
    ]


@dataclass
class TritonProcess:
    """A running tritonserver. `url` is the SageMaker front end (or the KServe HTTP API)."""

    process: subprocess.Popen
    url: str
    log_path: Path
    sagemaker: bool
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _work_dir: Path | None = field(default=None, repr=False)
    _gate: ModelGate | None = field(default=None, repr=False)

    @property
    def health_url(self) -> str:
        return f"{self.url}/ping" if self.sagemaker else f"{self.url}/v2/health/ready"

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self.process.returncode
                raise TritonStartError(f"tritonserver exited with {code}:\n{self.log_tail()}")
            try:
                if requests.get(self.health_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)  # a short poll: the local cloud's start-up waits on this one
        self.stop()
        raise TritonNotReady(f"tritonserver not healthy after {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15) -> int | None:
        """SIGTERM (Triton unloads its models and exits after --exit-timeout-secs), then SIGKILL."""
        if self.is_running():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._gate is not None:
            self._gate.stop()
            self._gate = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        return self.process.returncode

    def __enter__(self) -> TritonProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def default_model_repository() -> Path:
    """The base model repository: model_templates/ holds `sd_base` (the only model loaded at start)."""
    return MODEL_TEMPLATES


def triton_command(
    install: TritonInstall,
    model_repository: Path,
    port: int,
    sagemaker: bool = True,
    load_models: tuple[str, ...] = (Triton.BASE_MODEL_NAME,),
    exit_timeout_secs: int = 3,
    verbose: bool = False,
    extra_args: tuple[str, ...] = (),
    shm_default_bytes: int = 2**24,
    shm_growth_bytes: int = 2**20,
    bind_address: str = ALL_INTERFACES,
) -> list[str]:
    """The tritonserver command line (SageMaker multi-model mode unless `sagemaker` is False). The
    SageMaker front end ignores `bind_address` (it has no address flag): `triton_env` handles it."""
    command = [
        str(install.binary),
        f"--model-repository={model_repository}",
        f"--backend-directory={install.backend_dir}",
        f"--exit-timeout-secs={exit_timeout_secs}",
        f"--log-verbose={1 if verbose else 0}",
        *(f"--load-model={name}" for name in load_models),
        *(f"--{front_end}-address={bind_address}" for front_end in ("http", "grpc", "metrics")),
    ]
    if sagemaker:
        # /ping follows server readiness, and a strict server is "not ready" once any model failed to
        # load: one corrupt per-user model would make SageMaker replace a healthy instance. The base
        # model is loaded before the front end starts listening (a failure there exits the server).
        command += [*sagemaker_args(port, shm_default_bytes, shm_growth_bytes), "--strict-readiness=false"]
    else:
        command += [
            "--model-control-mode=explicit",
            "--allow-http=true",
            f"--http-port={port}",
            "--allow-grpc=false",
            "--allow-metrics=false",
        ]
    return [*command, *extra_args]


def triton_env(
    install: TritonInstall,
    base_model: Path | str | None = None,
    env: dict[str, str] | None = None,
    bind_address: str = ALL_INTERFACES,
) -> dict[str, str]:
    """The server's environment: the base model's location, what the Python stub needs to run, and for a
    loopback `bind_address` the shim that keeps the SageMaker front end on loopback (LoopbackUnavailable
    where it cannot be built)."""
    run_env = {**os.environ, **(env or {})}
    if check_bind_address(bind_address) != ALL_INTERFACES:
        run_env = preload_env(run_env)
    if base_model is not None:
        run_env[Env.BASE_MODEL] = str(base_model)
    if not run_env.get(Env.BASE_MODEL):
        raise ValueError(f"no base model: pass base_model or set {Env.BASE_MODEL}")
    if install.python_bin is not None:
        run_env["PATH"] = os.pathsep.join([str(install.python_bin), run_env.get("PATH", "")])
    if install.library_dirs:
        extra = os.pathsep.join(str(d) for d in install.library_dirs)
        run_env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [run_env.get("LD_LIBRARY_PATH"), extra]))
    return run_env


def start_triton(
    model_repository: Path | str | None = None,
    base_model: Path | str | None = None,
    http_port: int | None = Runtime.CONTAINER_PORT,
    sagemaker: bool = True,
    load_models: tuple[str, ...] = (Triton.BASE_MODEL_NAME,),
    exit_timeout_secs: int = 3,
    startup_timeout_s: float = 300,
    log_path: Path | str | None = None,
    env: dict[str, str] | None = None,
    verbose: bool = False,
    extra_args: tuple[str, ...] = (),
    bind_address: str = LOOPBACK,
    model_gate: bool = True,
) -> TritonProcess:
    """Start tritonserver and wait until it answers its health check (the base model is loaded by then).

    model_repository: folder holding `sd_base/` (default: model_templates/). base_model: where the base
    pipeline comes from (default: $AVATAR_BASE_MODEL). http_port: None picks a free port. sagemaker:
    SageMaker MME front end (/ping, /models, /models/{name}/invoke) behind the model gate on `http_port`
    (Triton itself on a free internal port) instead of the KServe HTTP API.
    model_gate: False only for the load benchmark's reference design, whose per-user models carry
    code (the deployed container always has the gate). bind_address: loopback unless told otherwise; a
    loopback server found listening anywhere else is stopped. Raises TritonNotAvailable where no
    tritonserver can run, TritonStartError (with the log tail) when it exits, stays unhealthy or listens
    beyond loopback.
    """
    model_repository = Path(model_repository or default_model_repository()).resolve()
    port = http_port or free_port()
    work_dir = Path(tempfile.mkdtemp(prefix="avatar-triton-"))
    try:
        install = find_triton(work_dir)
        run_env = triton_env(install, base_model, env, bind_address)
    except LoopbackUnavailable as exc:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise TritonNotAvailable(str(exc)) from exc
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    gated = sagemaker and model_gate
    triton_port = free_port() if gated else port
    command = triton_command(
        install, model_repository, triton_port, sagemaker, load_models, exit_timeout_secs, verbose,
        extra_args, bind_address=bind_address,
    )  # fmt: skip
    log_path = Path(log_path) if log_path else work_dir / "tritonserver.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 (closed by TritonProcess.stop)
    process = subprocess.Popen(
        command, env=run_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    triton = TritonProcess(
        process,
        url=f"http://127.0.0.1:{port}",
        log_path=log_path,
        sagemaker=sagemaker,
        _log_file=log_file,
        _work_dir=work_dir,
    )
    try:
        if gated:
            served = run_env.get(Env.BASE_FAMILY)  # the family this server's gate accepts (unset: default)
            family = FamilyName(served) if served else None
            triton._gate = ModelGate((bind_address, port), triton_port, served_family=family).start()
        triton.wait_ready(startup_timeout_s)
        exposed = non_loopback_listeners(process.pid) if bind_address != ALL_INTERFACES else []
        if exposed:
            raise TritonStartError(f"tritonserver listens beyond loopback on {exposed}; stopped it")
    except BaseException:
        triton.stop()
        raise
    return triton
