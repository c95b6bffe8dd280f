"""Reading the training input archive: what is kept, and every hostile member refused."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.fixtures.training_samples import bomb_tar, many_members_tar, tar_bytes, tar_with_member
from training_service.archive import read_training_archive
from training_service.errors import InvalidInput, TooLarge
from training_service.settings import ArchiveLimits

LIMITS = ArchiveLimits(max_members=50, max_unpacked_bytes=2**20, max_image_bytes=2**19, max_config_bytes=1024)


def _read(blob: bytes):
    return read_training_archive(io.BytesIO(blob), LIMITS)


@pytest.mark.parametrize("compress", [True, False])
def test_keeps_images_and_root_config_by_base_name(compress: bool) -> None:
    files = {
        "a.jpg": b"1",
        "photos/b.PNG": b"2",
        "./c.jpeg": b"3",
        "config.json": json.dumps({"token": "zwx"}).encode(),
        "notes.txt": b"x",
        "._a.jpg": b"macos resource fork",
    }
    content = _read(tar_bytes(files, compress=compress))
    assert content.images == {"a.jpg": b"1", "b.PNG": b"2", "c.jpeg": b"3"}
    assert content.config == {"token": "zwx"}
    assert sorted(content.ignored) == ["._a.jpg", "notes.txt"]


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.size = kind, linkname, size
    return member


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (_member("../evil.jpg", size=1), "leaves the archive"),
        (_member("photos/../../evil.jpg", size=1), "leaves the archive"),
        (_member("/etc/cron.d/evil", size=1), "absolute path"),
        (_member("C:/evil.jpg", size=1), "absolute path"),
        (_member("link.jpg", tarfile.SYMTYPE, "/etc/shadow"), "is a link"),
        (_member("hard.jpg", tarfile.LNKTYPE, "a.jpg"), "is a link"),
        (_member("dev.jpg", tarfile.CHRTYPE), "special file"),
        (_member("fifo.jpg", tarfile.FIFOTYPE), "special file"),
    ],
)
def test_refuses_hostile_members(member: tarfile.TarInfo, words: str) -> None:
    blob = tar_with_member(member, {"a.jpg": b"1"}, b"x" * member.size if member.size else None)
    with pytest.raises(InvalidInput, match=words):
        _read(blob)


def test_refuses_too_many_members() -> None:
    with pytest.raises(TooLarge, match="more than 50 members"):
        _read(many_members_tar(51))


def test_refuses_a_decompression_bomb_before_reading_it() -> None:
    with pytest.raises(TooLarge, match="unpacks to more than"):
        _read(bomb_tar(64 * 2**20))


def test_refuses_an_oversized_image_and_config() -> None:
    with pytest.raises(TooLarge, match=r"big\.jpg"):
        _read(tar_bytes({"big.jpg": bytes(2**19 + 1)}))
    with pytest.raises(TooLarge, match=r"config\.json"):
        _read(tar_bytes({"config.json": b" " * 2000}))


@pytest.mark.parametrize(
    ("blob", "words"),
    [
        (b"", "not a readable tar"),
        (b"PK\x03\x04 a zip file", "not a readable tar"),
        (tar_bytes({"config.json": b"{not json"}), "not valid JSON"),
        (tar_bytes({"config.json": b"[1, 2]"}), "JSON object"),
        (tar_bytes({"a.jpg": b"1", "dir/a.jpg": b"2"}), "two images are named"),
    ],
    # by the expected words: a gzip blob carries its mtime, and ids must be the same on every xdist worker
    ids=["empty", "zip", "config-not-json", "config-not-object", "duplicate-image-names"],
)
def test_refuses_unreadable_archives_and_configs(blob: bytes, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        _read(blob)


def test_truncated_archive_is_refused() -> None:
    blob = tar_bytes({"a.jpg": b"1" * 5000, "b.jpg": b"2" * 5000})
    with pytest.raises(InvalidInput, match="not a readable tar"):
        _read(blob[: len(blob) // 2])
