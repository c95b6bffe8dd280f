"""Whether this interpreter's tarfile has the security fixes the images require (standard library only).

Run in each image build (`python -m avatar_runtime.tarfile_fixes`, containers/*/Dockerfile): it exits 1,
failing the build, when the base image's Python lacks them. Two families (docs/limits-training.md):

- CVE-2024-6232, quadratic (ReDoS) parsing of pax headers: fixed in 3.11.10, 3.12.6;
- the extraction-filter bypasses of June 2025 (CVE-2025-4517, -4330, -4138, -4435, CVE-2024-12718):
  fixed in 3.11.13, 3.12.11, 3.13.4. Interpreters without the filters (PEP 706: before 3.11.4, or a
  distribution's build of an older release) lack them too.

A distribution's interpreter keeps its upstream version number while carrying backported patches (Debian,
Ubuntu), so the number alone would refuse a patched build. The decision (`decide`) is therefore: a
behavioural probe of each family must pass (`probe_pax_redos`, `probe_filter_escape`), and, for an
upstream build, the version must be at least the fixed release as well; for a distribution's package
(`Interpreter.package`) the probe decides and its revision is reported. A known-vulnerable stand-in can be
let through only by naming its exact package revision (`--waive`), which `make images` does for its
Debian stand-in and a deployment's build never does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

PAX_REDOS: Final = "CVE-2024-6232"
FILTER_BYPASS: Final = "CVE-2025-4517 family"
FIXED_RELEASES: Final = {
    PAX_REDOS: {(3, 11): (3, 11, 10), (3, 12): (3, 12, 6)},
    FILTER_BYPASS: {(3, 11): (3, 11, 13), (3, 12): (3, 12, 11), (3, 13): (3, 13, 4)},
}
# The ReDoS probe: a pax record length of this many digits. Unfixed CPython parses it in seconds
# (quadratic: 30 KB took 1.7 s on 3.11.7), fixed releases in milliseconds.
PAX_PROBE_DIGITS: Final = 30_000
PAX_PROBE_SECONDS: Final = 0.5


@dataclass(frozen=True)
class Interpreter:
    version: tuple[int, int, int]
    package: str | None = None  # "libpython3.11-stdlib=3.11.2-6+deb12u8" when a distribution's build


@dataclass(frozen=True)
class Finding:
    family: str
    fixed: bool
    reason: str


def release_has_fix(family: str, version: tuple[int, ...]) -> bool:
    """Whether upstream CPython `version` has the family's fix (newer minor versions than listed do)."""
    releases = FIXED_RELEASES[family]
    minor = (version[0], version[1])
    if minor in releases:
        return tuple(version[:3]) >= releases[minor]
    return minor > max(releases)


def decide(interpreter: Interpreter, probe_failures: dict[str, str | None]) -> list[Finding]:
    """One finding per family from the interpreter and each probe's failure (None: the probe passed)."""
    shown = ".".join(map(str, interpreter.version))
    findings = []
    for family in FIXED_RELEASES:
        failure = probe_failures.get(family, "not probed")
        by_release = release_has_fix(family, interpreter.version)
        if failure is not None:
            fixed, reason = False, f"probe failed: {failure}"
        elif by_release:
            fixed, reason = True, f"Python {shown} is at least the fixed release; probe passed"
        elif interpreter.package:
            fixed, reason = True, f"{interpreter.package} (patched {shown}): probe passed"
        else:
            wanted = ".".join(map(str, FIXED_RELEASES[family].get(interpreter.version[:2], ())))
            fixed, reason = False, f"upstream Python {shown} predates the fix ({wanted})"
        findings.append(Finding(family, fixed, reason))
    return findings


_DEBIAN_REVISION = re.compile(r"^(?P<series>.+\+deb\d+u)(?P<n>\d+)$")


def waived(waive: str, package: str | None) -> bool:
    """Whether `waive` (`name=revision`) covers `package`: the same revision, or a later security revision
    of the same Debian series (`…+deb12u8` covers `…+deb12u9`: it only adds patches), so a Debian point
    release does not break the stand-in's build. Anything else (another upstream version) is not covered."""
    if not waive or not package:
        return False
    if waive == package:
        return True
    named, found = _DEBIAN_REVISION.match(waive), _DEBIAN_REVISION.match(package)
    return bool(named and found and named["series"] == found["series"] and int(found["n"]) >= int(named["n"]))


def verdict(findings: list[Finding], interpreter: Interpreter, waive: str = "") -> tuple[bool, str]:
    """(accepted, why): accepted when every family is fixed, or when `waive` covers this interpreter's
    package revision (the stand-in of `make images`, never a deployed base; see `waived`)."""
    missing = [f.family for f in findings if not f.fixed]
    if not missing:
        return True, "every tarfile fix is present"
    if waived(waive, interpreter.package):
        return (
            True,
            f"WAIVED for {interpreter.package} (a stand-in base, not deployed): lacks {', '.join(missing)}",
        )
    return False, f"refused: lacks {', '.join(missing)}"


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _pax_archive(payload: bytes) -> bytes:
    """A ustar archive whose first member is a pax header block holding `payload` raw."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(payload)
    block = header.tobuf(tarfile.USTAR_FORMAT) + payload + b"\0" * (-len(payload) % tarfile.BLOCKSIZE)
    return block + _tar([(_entry("a.txt", b"x"), b"x")], tarfile.USTAR_FORMAT)


def _entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info


def probe_pax_redos() -> str | None:
    """None when a pax header of a long digit run is parsed (or refused) quickly, else how long it took."""
    started = time.monotonic()
    try:
        with tarfile.open(fileobj=io.BytesIO(_pax_archive(b"1" * PAX_PROBE_DIGITS)), mode="r:") as tar:
            tar.getmembers()
    except tarfile.TarError:
        pass
    seconds = time.monotonic() - started
    if seconds > PAX_PROBE_SECONDS:
        return f"{PAX_PROBE_DIGITS} digits of a pax record took {seconds:.1f}s to parse (quadratic)"
    return None


def _escape_archive(depth: int = 16) -> bytes:
    """The shape of CVE-2025-4517: one-letter symlinks to 247-character folders build a path that is short
    to write and longer than PATH_MAX once resolved, where an unfixed realpath stops resolving; a link
    through it then points above the destination, and a file written through that link lands outside."""
    long_name, members, path = "d" * 247, [], ""
    steps = "abcdefghijklmnopqrstuvwxyz"[:depth]
    for step in steps:
        members.append(_entry(os.path.join(path, long_name), kind=tarfile.DIRTYPE))
        members.append(_entry(os.path.join(path, step), kind=tarfile.SYMTYPE, link=long_name))
        path = os.path.join(path, long_name)
    through = os.path.join(*steps, "l" * 254)
    members.append(_entry(through, kind=tarfile.SYMTYPE, link="../" * depth))
    # From the destination, up one more: the probe's own temporary folder, where `outside/` waits.
    members.append(_entry("escape", kind=tarfile.SYMTYPE, link=through + "/../outside"))
    members.append(_entry("escape/planted", b"escaped"))
    return _tar([(info, b"escaped" if info.isfile() else b"") for info in members])


def probe_filter_escape() -> str | None:
    """None when `filter="data"` keeps every member of the escape archive inside the destination."""
    if not hasattr(tarfile, "data_filter"):
        return "tarfile has no extraction filters (PEP 706)"
    with tempfile.TemporaryDirectory(prefix="tarfile-probe-") as tmp:
        destination, outside = Path(tmp) / "destination", Path(tmp) / "outside"
        destination.mkdir()
        outside.mkdir()
        try:
            with tarfile.open(fileobj=io.BytesIO(_escape_archive()), mode="r:") as tar:
                tar.extractall(destination, filter="data")
        except (tarfile.TarError, OSError, ValueError):
            pass  # refused (FilterError) or failed: either way, what matters is what got written
        escaped = list(outside.iterdir())
        if escaped:
            return f"filter='data' let a member out of the destination ({escaped[0].name})"
    return None


def this_interpreter() -> Interpreter:
    """sys.version_info, and the dpkg package that owns this interpreter's tarfile.py, if one does."""
    version = (sys.version_info[0], sys.version_info[1], sys.version_info[2])
    package = None
    try:
        owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(tarfile.__file__)],
                               capture_output=True, text=True, timeout=30)  # fmt: skip
        name = owner.stdout.split(":")[0].strip()
        if owner.returncode == 0 and name.startswith(("libpython3", "python3")):
            shown = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name],
                                   capture_output=True, text=True, timeout=30)  # fmt: skip
            package = f"{name}={shown.stdout.strip()}" if shown.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        package = None  # no dpkg: not a Debian/Ubuntu package (conda, python.org builds)
    return Interpreter(version, package)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refuse a Python whose tarfile lacks the security fixes.")
    parser.add_argument("--waive", default="", help="exact package=revision of a known stand-in to let by")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    interpreter = this_interpreter()
    failures = {PAX_REDOS: probe_pax_redos(), FILTER_BYPASS: probe_filter_escape()}
    findings = decide(interpreter, failures)
    accepted, why = verdict(findings, interpreter, args.waive)
    if args.json:
        report = {"interpreter": asdict(interpreter), "accepted": accepted, "why": why,
                  "findings": [asdict(f) for f in findings]}  # fmt: skip
        print(json.dumps(report))
    else:
        print(f"Python {sys.version.split()[0]} ({interpreter.package or 'not a distribution package'})")
        for finding in findings:
            print(f"  {finding.family}: {'fixed' if finding.fixed else 'MISSING'} ({finding.reason})")
        print(f"tarfile fixes: {why}")
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
