"""Child processes of the local cloud (the training service, the hosting container's Triton): started
in their own process group with their output in the log folder, health-checked over HTTP, and stopped
with their whole group so nothing (e.g. Triton's Python backend stubs) outlives the local cloud."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)
HEALTH_POLL_S = 0.05  # how often a starting container's health check is tried: it is up within this long


class ContainerStartError(RuntimeError):
    """A child exited or never became healthy."""


class ManagedProcess:
    """One container's process. `scratch_dir`, when given, is its TMPDIR: emptied at every start, as a
    restarted container starts from its image's clean filesystem."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path,
        scratch_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.env = env if scratch_dir is None else {**env, "TMPDIR": str(scratch_dir)}
        self.log_path = log_path
        self.cwd = cwd
        self.scratch_dir = scratch_dir
        self.process: subprocess.Popen[bytes] | None = None

    def exited(self) -> bool:
        """Started, and no longer running."""
        return self.process is not None and self.process.poll() is not None

    def start(self) -> None:
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            self.scratch_dir.mkdir(parents=True)
        log_file = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() takes its children down too
            )
        finally:
            log_file.close()
        log.info("started %s (pid %d): %s", self.name, self.process.pid, " ".join(self.command))

    def wait_healthy(self, url: str, timeout: float) -> None:
        """Poll `url` until it answers 200; fail early with the log's tail if the process exits."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ContainerStartError(
                    f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(HEALTH_POLL_S)
        raise ContainerStartError(
            f"{self.name} not healthy at {url} after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the child's pid
        if self.process.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, grace)
        _signal_group(pgid, signal.SIGKILL)  # whatever of its group is left
        if self.process.poll() is None:
            self.process.wait(5)
        wait_group_gone(pgid)
        log.info("stopped %s", self.name)
        self.process = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def shared_memory_of_group(pgid: int) -> set[Path]:
    """The /dev/shm files mapped by the processes of group `pgid` (Triton's Python backend regions), read
    from /proc: what a killed group leaves behind."""
    found: set[Path] = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            maps = (proc / "maps").read_text()
        except (OSError, ValueError):  # gone, or not ours to read
            continue
        found |= {Path(line.split(maxsplit=5)[5]) for line in maps.splitlines() if " /dev/shm/" in line}
    return found


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` still running (zombies, only waiting to be reaped, do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_group_gone(pgid: int, timeout: float = 5.0) -> None:
    """Return once nothing of a killed group runs (a SIGKILLed process still frees its memory for a
    moment), or after `timeout`."""
    deadline = time.monotonic() + timeout
    while live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def remove_files(paths: set[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of a process group this package started (its leader's pid)."""
    _signal_group(pgid, signal.SIGKILL)
