"""The web app listens beyond loopback only with its own sign-in, and bounds uploads (issue 21, L5)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.unit.webui.test_session import _local_cloud_state
from webui import access
from webui.__main__ import build_parser, launch_options, main

GOOD = "alice:correct-horse-battery"


def _auth_file(tmp_path: Path, text: str = GOOD, mode: int = 0o600) -> Path:
    path = tmp_path / "webui-users"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_sign_in(host: str) -> None:
    assert access.is_loopback(host) and access.bind_problem(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local", "10.0.0.5"])
def test_any_other_address_is_refused_without_the_apps_sign_in(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _local_cloud_state(tmp_path)
    # Refused before Gradio is imported (a usage error, exit status 2), nothing listens.
    with pytest.raises(SystemExit) as exited:
        main(["--local-cloud", str(state), "--host", host])
    assert exited.value.code == 2 and "gradio" not in sys.modules
    assert "--auth-file" in capsys.readouterr().err


def test_with_an_auth_file_it_listens_with_gradios_sign_in_and_upload_limit(tmp_path: Path) -> None:
    auth = _auth_file(tmp_path, f"# the app's users\n{GOOD}\nbob:another-long-password")
    parser = build_parser()
    args = parser.parse_args(
        ["--api-url", "https://x.example", "--host", "0.0.0.0", "--auth-file", str(auth)]
    )
    options = launch_options(parser, args)
    assert options["server_name"] == "0.0.0.0"
    assert options["auth"] == [("alice", "correct-horse-battery"), ("bob", "another-long-password")]
    assert options["max_file_size"] == access.MAX_UPLOAD_BYTES == 20 * 2**20
    loopback = launch_options(parser, parser.parse_args(["--api-url", "https://x.example"]))
    assert loopback["auth"] is None and loopback["max_file_size"] == access.MAX_UPLOAD_BYTES


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        (GOOD, 0o644, "readable by others"),
        ("alice:short", 0o600, "at least 12"),
        ("no-colon-here-at-all", 0o600, "user:password"),
        ("# nobody", 0o600, "names no"),
    ],
)
def test_a_weak_or_exposed_auth_file_is_refused(
    tmp_path: Path, text: str, mode: int, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--api-url",
            "https://x.example",
            "--host",
            "0.0.0.0",
            "--auth-file",
            str(_auth_file(tmp_path, text, mode)),
        ]
    )
    with pytest.raises(SystemExit):
        launch_options(parser, args)
    assert reason in capsys.readouterr().err


def test_uploads_are_bounded_in_size_and_number(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    small.write_bytes(b"x" * 1000)
    big = tmp_path / "big.jpg"
    with big.open("wb") as handle:
        handle.truncate(access.MAX_UPLOAD_BYTES + 1)  # sparse: no real 20 MiB written
    assert access.upload_problem([str(small)] * 10, 20) is None
    assert "big.jpg" in (access.upload_problem([str(small), str(big)], 20) or "")
    assert "at most 20" in (access.upload_problem([str(small)] * 21, 20) or "")
    assert "gone" in (access.upload_problem([str(tmp_path / "missing.jpg")], 20) or "")
