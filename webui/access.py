"""Who may reach the web app, and how much it accepts (docs/webui.md, "Exposure and limits").

The app signs API calls with whatever the server can use — the local cloud's principals, the server's
AWS profiles — so whoever reaches its port acts with those credentials. It therefore listens on a
loopback address only, unless it has its own sign-in: `--auth-file` names a file of `user:password`
lines (readable by its owner only), which Gradio asks for before anything else. Uploads are bounded
per file (`MAX_UPLOAD_BYTES`, enforced by Gradio's server and checked again here) and in number.
Standard library only: checked before Gradio is imported.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Sequence
from pathlib import Path

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # one photo as a phone takes it; the SDK shrinks it to ≤ 1024 px
MIN_PASSWORD_CHARS = 12
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for `localhost` and every loopback address (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    """The `user:password` lines of `path` (blank lines and `#` comments skipped); ValueError when the
    file is readable by others than its owner, empty, or holds a malformed line or a short password."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
    users = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, separator, password = line.partition(":")
        if not separator or not user or len(password) < MIN_PASSWORD_CHARS:
            raise ValueError(
                f"{path}:{number}: expected user:password with at least {MIN_PASSWORD_CHARS} characters"
            )
        users.append((user, password))
    if not users:
        raise ValueError(f"{path} names no user:password")
    return users


def bind_problem(host: str, auth: Sequence[tuple[str, str]] | None) -> str | None:
    """Why the app may not listen on `host` (None: it may)."""
    if is_loopback(host) or auth:
        return None
    return (
        f"refusing to listen on {host}: the app acts with this machine's credentials, so beyond loopback "
        "it needs its own sign-in (--auth-file FILE of user:password lines, chmod 600)"
    )


def upload_problem(paths: Sequence[str], most: int) -> str | None:
    """Why these uploaded files are not taken (None: they are): more than `most`, or one too large."""
    if len(paths) > most:
        return f"{len(paths)} photos: at most {most}."
    for path in paths:
        try:
            size = os.path.getsize(path)
        except OSError:
            return f"{Path(path).name}: the upload is gone; add it again."
        if size > MAX_UPLOAD_BYTES:
            limit = MAX_UPLOAD_BYTES // 2**20
            return f"{Path(path).name}: {size // 2**20} MiB; at most {limit} MiB per photo."
    return None
