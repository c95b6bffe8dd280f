"""The images' tarfile check: its decision from version, package and probes, and the probes themselves."""

from __future__ import annotations

import sys
import tarfile

import pytest

from avatar_runtime.tarfile_fixes import (
    FILTER_BYPASS,
    PAX_REDOS,
    Interpreter,
    decide,
    probe_filter_escape,
    probe_pax_redos,
    release_has_fix,
    verdict,
)

PASSED: dict[str, str | None] = {PAX_REDOS: None, FILTER_BYPASS: None}
STANDIN = "libpython3.11-stdlib=3.11.2-6+deb12u8"


@pytest.mark.parametrize(
    ("family", "version", "fixed"),
    [
        (PAX_REDOS, (3, 11, 9), False),
        (PAX_REDOS, (3, 11, 10), True),
        (PAX_REDOS, (3, 12, 5), False),
        (PAX_REDOS, (3, 12, 6), True),
        (PAX_REDOS, (3, 13, 0), True),  # 3.13.0 final came after the fix (3.13.0rc2)
        (FILTER_BYPASS, (3, 11, 12), False),
        (FILTER_BYPASS, (3, 11, 13), True),
        (FILTER_BYPASS, (3, 12, 10), False),
        (FILTER_BYPASS, (3, 12, 11), True),
        (FILTER_BYPASS, (3, 13, 3), False),
        (FILTER_BYPASS, (3, 13, 4), True),
        (FILTER_BYPASS, (3, 14, 0), True),
        (FILTER_BYPASS, (3, 10, 18), False),  # older minors than listed: not accepted by number
    ],
)
def test_fixed_releases(family: str, version: tuple[int, int, int], fixed: bool) -> None:
    assert release_has_fix(family, version) is fixed


def test_an_upstream_build_needs_the_release_and_the_probe() -> None:
    old = decide(Interpreter((3, 12, 10)), PASSED)
    assert [f.fixed for f in old] == [True, False]
    assert "predates the fix (3.12.11)" in old[1].reason
    assert all(f.fixed for f in decide(Interpreter((3, 12, 11)), PASSED))
    failed = decide(Interpreter((3, 12, 11)), {**PASSED, FILTER_BYPASS: "let a member out"})
    assert not failed[1].fixed and "probe failed: let a member out" in failed[1].reason


def test_a_distribution_build_is_decided_by_the_probe() -> None:
    """Ubuntu's 3.12.3 with backported fixes passes on its probes; the number alone would refuse it."""
    patched = Interpreter((3, 12, 3), "libpython3.12-stdlib=3.12.3-1ubuntu0.8")
    assert all(f.fixed for f in decide(patched, PASSED))
    debian = Interpreter((3, 11, 2), STANDIN)
    found = decide(debian, {**PASSED, FILTER_BYPASS: "tarfile has no extraction filters (PEP 706)"})
    assert [f.fixed for f in found] == [True, False]


def test_an_unprobed_family_is_missing() -> None:
    assert not decide(Interpreter((3, 13, 9)), {PAX_REDOS: None})[1].fixed


def test_the_waiver_lets_by_only_its_revision_and_later_ones_of_its_debian_series() -> None:
    interpreter = Interpreter((3, 11, 2), STANDIN)
    findings = decide(interpreter, {**PASSED, FILTER_BYPASS: "no filters"})
    assert verdict(findings, interpreter) == (False, f"refused: lacks {FILTER_BYPASS}")
    assert verdict(findings, interpreter, "libpython3.11-stdlib=3.11.2-6+deb12u9")[0] is False  # older one
    later = Interpreter((3, 11, 2), STANDIN.replace("deb12u8", "deb12u10"))
    assert verdict(decide(later, {**PASSED, FILTER_BYPASS: "no filters"}), later, STANDIN)[0] is True
    other = Interpreter((3, 11, 4), "libpython3.11-stdlib=3.11.4-1+deb12u8")
    assert verdict(decide(other, {**PASSED, FILTER_BYPASS: "no filters"}), other, STANDIN)[0] is False
    accepted, why = verdict(findings, interpreter, STANDIN)
    assert accepted and why.startswith(f"WAIVED for {STANDIN}")
    upstream = Interpreter((3, 11, 7))
    assert verdict(decide(upstream, PASSED), upstream, "")[0] is False  # no package: nothing to waive


def _vulnerable_to_the_escape() -> bool:
    return hasattr(tarfile, "data_filter") and not release_has_fix(FILTER_BYPASS, sys.version_info[:3])


@pytest.mark.skipif(not _vulnerable_to_the_escape(), reason="needs an unfixed interpreter with filters")
def test_the_escape_probe_catches_this_unfixed_interpreter() -> None:
    """The development venv's CPython (3.11.7, upstream) has the filters and not the June 2025 fixes."""
    failure = probe_filter_escape()
    assert failure is not None and "out of the destination" in failure


@pytest.mark.skipif(
    release_has_fix(PAX_REDOS, sys.version_info[:3]), reason="needs an interpreter without the pax fix"
)
def test_the_pax_probe_catches_this_unfixed_interpreter() -> None:
    failure = probe_pax_redos()
    assert failure is not None and "quadratic" in failure
