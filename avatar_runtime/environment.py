"""The one way every runtime reads its settings from environment variables (issue 22 item 5): the Lambda
functions (`avatar_api.settings`), the training container (`training_service.settings`) and the hosting
container (`hosting_server.settings`) each describe their settings as a frozen dataclass and fill it
through an `Environment`, so a value is parsed, defaulted and refused the same way everywhere.

An empty variable counts as unset. A value that does not parse is refused with a `ValueError` naming the
variable and the value, when the settings are read (at start-up), never later. Standard library only.

Why not pydantic-settings: it would be one more package in five locks (three runtimes and their test
environments) for what is a few typed lookups; the settings' names and defaults stay in each runtime's
dataclass, documented beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class Environment:
    """Typed lookups over `environ` (default: this process's), then each of `fallbacks` in order (e.g. a
    Triton model's parameters of the same name)."""

    def __init__(self, environ: Mapping[str, str] | None = None, *fallbacks: Mapping[str, str]) -> None:
        self._sources = (os.environ if environ is None else environ, *fallbacks)

    def raw(self, name: str) -> str | None:
        """The first non-empty value of `name`, stripped; None when unset everywhere."""
        for source in self._sources:
            value = str(source.get(name) or "").strip()
            if value:
                return value
        return None

    def text(self, name: str, default: str = "") -> str:
        return self.raw(name) or default

    def required(self, *names: str) -> dict[str, str]:
        """Each of `names`' value; RuntimeError naming every one that is unset."""
        missing = [name for name in names if self.raw(name) is None]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return {name: self.raw(name) or "" for name in names}

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ValueError(f"{name} must be true or false, got {raw!r}")

    def path(self, name: str, default: Path) -> Path:
        raw = self.raw(name)
        return Path(raw) if raw is not None else default
