"""Parsers of cdk.json context values (standard library only).

Each parser takes `(key, raw value)` and returns the typed value or raises `ConfigError` naming the key.
Context values given on the command line (`cdk synth -c key=value`) arrive as strings, so numbers,
booleans and lists are parsed from strings too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from avatar_contract.families import FamilyName
from stacks.config_constants import LOG_RETENTION_DAYS, MULTI_GPU_INSTANCE_TYPES

Parser = Callable[[str, Any], Any]


class ConfigError(ValueError):
    """A context value is invalid; the message names the key, the value and what is expected."""


PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
INSTANCE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
MANIFEST_RE = re.compile(r"^[\w./-]+\.json$")


def fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"cdk.json context {key!r}: expected {expected}, got {value!r}")


def integer(minimum: int, maximum: int) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        expected = f"an integer from {minimum} to {maximum}"
        if isinstance(value, bool):
            raise fail(key, value, expected)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int) or not minimum <= value <= maximum:
            raise fail(key, value, expected)
        return value

    return parse


def number(minimum: float, maximum: float) -> Callable[[str, Any], float]:
    def parse(key: str, value: Any) -> float:
        expected = f"a number from {minimum:g} to {maximum:g}"
        if isinstance(value, bool):
            raise fail(key, value, expected)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise fail(key, value, expected) from None
        if not isinstance(value, int | float) or not minimum <= value <= maximum:
            raise fail(key, value, expected)
        return float(value)

    return parse


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise fail(key, value, "true or false")


def matching(pattern: re.Pattern[str], expected: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise fail(key, value, expected)
        return value

    return parse


PACKS_FILE_RE = re.compile(r"^(?!/)(?!.*\.\.)[\w./-]+\.json$")
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def packs_file(key: str, value: Any) -> str:
    """A JSON file of operator packs (path from the repository root), read and validated now with the
    packs schema (`avatar_contract.packs`), so a bad pack fails synth naming the file and the field."""
    if not isinstance(value, str) or not PACKS_FILE_RE.match(value):
        raise fail(key, value, "a .json file path inside the repository, such as packs/operator.json")
    from avatar_contract.packs import PackError, load_operator_packs  # pydantic: only when one is set

    try:
        load_operator_packs(REPOSITORY_ROOT / value)
    except PackError as exc:
        raise ConfigError(f"cdk.json context {key!r}: {exc}") from None
    return value


def optional(parse: Parser) -> Parser:
    """None or an empty string mean "not set"; anything else must satisfy `parse`."""

    def parse_optional(key: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        return parse(key, value)

    return parse_optional


def one_of(choices: Iterable[Any]) -> Parser:
    allowed = tuple(choices)

    def parse(key: str, value: Any) -> Any:
        for choice in allowed:
            if value == choice or (isinstance(value, str) and value.strip().lower() == str(choice)):
                return choice
        raise fail(key, value, "one of " + ", ".join(str(c) for c in allowed))

    return parse


def log_retention(key: str, value: Any) -> int:
    days = integer(1, 3653)(key, value)
    if days not in LOG_RETENTION_DAYS:
        raise fail(key, value, "a CloudWatch Logs retention: " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return days


def instance_type(key: str, value: Any) -> str:
    return matching(INSTANCE_RE, "a SageMaker instance type such as ml.g5.2xlarge")(key, value)


def family_name(key: str, value: Any) -> FamilyName:
    names = [str(name) for name in FamilyName]
    if value not in names:
        raise fail(key, value, f"one of {', '.join(names)}")
    return FamilyName(value)


def hosting_instance(key: str, value: Any) -> str:
    instance = matching(INSTANCE_RE, "a SageMaker instance type such as ml.g5.xlarge")(key, value)
    if instance in MULTI_GPU_INSTANCE_TYPES:
        raise fail(key, value, "a single-GPU instance type (GPU multi-model endpoints need one GPU)")
    return instance


def role_arns(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # `-c key=arn1,arn2` on the command line
        value = [part.strip() for part in value.split(",") if part.strip()]
    expected = "a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)"
    if not isinstance(value, list | tuple):
        raise fail(key, value, expected)
    for arn in value:
        if not isinstance(arn, str) or not ROLE_ARN_RE.fullmatch(arn):
            raise fail(key, arn, expected)
    return tuple(value)


# An OAuth redirect URL Cognito accepts: https, or http only for a loopback host (native apps, RFC 8252).
OAUTH_URL_RE = re.compile(r"^(https://[^\s/?#]+|http://(localhost|127\.0\.0\.1)(:\d+)?)(/[^\s#]*)?$")


def oauth_urls(key: str, value: Any) -> tuple[str, ...]:
    """A list of OAuth callback URLs (`-c key=url1,url2` on the command line); empty: OAuth off."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    expected = "a list of https:// URLs (http:// only for localhost), without fragments"
    if not isinstance(value, list | tuple):
        raise fail(key, value, expected)
    for url in value:
        if not isinstance(url, str) or len(url) > 1024 or not OAUTH_URL_RE.fullmatch(url):
            raise fail(key, url, expected)
    return tuple(value)


def ports(key: str, value: Any) -> tuple[int, ...]:
    """A non-empty list of TCP ports (`-c key=443,8443` on the command line)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise fail(key, value, "a non-empty list of ports from 1 to 65535")
    return tuple(sorted({integer(1, 65535)(key, port) for port in value}))


def moderation_stage(parse_stage: Callable[[Any], Any]) -> Parser:
    """A content-moderation stage (avatar_contract.moderation): an object, or its JSON on the command line."""

    def parse(key: str, value: Any) -> Any:
        try:
            return parse_stage(value)
        except ValueError as error:  # PolicyError
            raise ConfigError(f"cdk.json context {key!r}: {error}") from None

    return parse
