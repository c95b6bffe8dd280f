"""Pax and GNU long-name headers count toward the archive's member and size limits, are refused above
8 KiB before tarfile reads them, and the decompressed stream is capped as a whole (generated archives)."""

from __future__ import annotations

import io
import tarfile
import time
import tracemalloc

import pytest

from avatar_runtime.safe_tar import (
    MAX_HEADER_BYTES,
    ArchiveLimitError,
    TarBudget,
    UnsafeArchiveError,
    open_stream,
    python_has_tarfile_fixes,
    safe_extract,
)
from training_service.archive import read_training_archive
from training_service.errors import InvalidInput, TooLarge
from training_service.settings import ArchiveLimits

LIMITS = ArchiveLimits(max_members=50, max_unpacked_bytes=2**20, max_image_bytes=2**19, max_config_bytes=1024)


def _archive(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int, mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=fmt) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _pax_header(payload: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A raw pax extended header (typeflag 'x') whose data is `payload`, written as a plain member."""
    info = tarfile.TarInfo("PaxHeaders/a.jpg")
    info.type = tarfile.XHDTYPE
    return info, payload


def _file(name: str, data: bytes = b"1") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _read(blob: bytes):
    return read_training_archive(io.BytesIO(blob), LIMITS)


def test_long_names_in_pax_and_gnu_formats_still_read() -> None:
    long_dir = "photos/" + "d" * 150 + "/"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        content = _read(_archive([_file(long_dir + "a.jpg"), _file(long_dir + "b.png", b"2")], fmt))
        assert content.images == {"a.jpg": b"1", "b.png": b"2"}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_extended_headers_count_as_members(fmt: int) -> None:
    """30 long-named files are 60 header blocks: over a 50-member limit (tarfile itself yields 30)."""
    members = [_file(f"{'n' * 120}-{n}.jpg") for n in range(30)]
    blob = _archive(members, fmt)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert len(tar.getmembers()) == 30
    with pytest.raises(TooLarge, match="more than 50 members"):
        _read(blob)


def test_a_large_pax_header_is_refused_before_it_is_read() -> None:
    """16 MiB of pax records in a few KB of gzip: refused from its header, without buffering it."""
    blob = _archive([_pax_header(b"99 comment=" + b"x" * (16 * 2**20)), _file("a.jpg")], tarfile.USTAR_FORMAT)
    assert len(blob) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="pax or GNU long name"):
            _read(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_a_gnu_long_name_header_over_the_limit_is_refused() -> None:
    info = tarfile.TarInfo("././@LongLink")
    info.type = tarfile.GNUTYPE_LONGNAME
    blob = _archive([(info, b"a" * (MAX_HEADER_BYTES + 1)), _file("a.jpg")], tarfile.USTAR_FORMAT)
    with pytest.raises(TooLarge, match="pax or GNU long name"):
        _read(blob)


def test_the_quadratic_pax_parser_input_is_refused_quickly() -> None:
    """CVE-2024-6232's input (a long run of digits as a record length) is refused from the header size;
    unfixed CPython spends seconds parsing 60 KB of it."""
    blob = _archive([_pax_header(b"1" * 60_000), _file("a.jpg")], tarfile.USTAR_FORMAT)
    started = time.monotonic()
    with pytest.raises(TooLarge, match="pax or GNU long name"):
        _read(blob)
    assert time.monotonic() - started < 1.0


def test_extended_header_bytes_count_toward_the_size_limit() -> None:
    """20 pax headers of 7 KiB each are under the per-header limit, but 140 KiB of a 100 KiB budget."""
    record = b"%d comment=%s\n"
    members = []
    for n in range(20):
        value = b"c" * (7 * 2**10)
        line = record % (len(value) + 16, value)
        members += [_pax_header(line), _file(f"{n}.jpg")]
    blob = _archive(members, tarfile.USTAR_FORMAT)
    small = ArchiveLimits(max_members=50, max_unpacked_bytes=100 * 2**10)
    with pytest.raises(TooLarge, match="unpacks to more than"):
        read_training_archive(io.BytesIO(blob), small)


def test_sparse_members_are_refused() -> None:
    info = tarfile.TarInfo("a.jpg")
    info.type = tarfile.GNUTYPE_SPARSE
    blob = _archive([(info, b"")], tarfile.GNU_FORMAT)
    with pytest.raises(InvalidInput, match="sparse"):
        _read(blob)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_the_decompressed_stream_is_capped_even_for_a_careless_reader(mode: str) -> None:
    """A reader that never calls budget.add still cannot pull more than stream_limit() bytes."""
    blob = _archive([_file("big.bin", bytes(200_000))], tarfile.USTAR_FORMAT, mode)
    budget = TarBudget(max_members=2, max_bytes=1000)
    with (
        pytest.raises(ArchiveLimitError, match="bytes of tar data"),
        open_stream(io.BytesIO(blob), budget) as tar,
    ):
        for member in tar:
            stream = tar.extractfile(member)
            assert stream is not None
            stream.read()


def test_safe_extract_counts_extended_headers_and_writes_nothing(tmp_path) -> None:
    path = tmp_path / "model.tar"
    path.write_bytes(_archive([_pax_header(b"x" * (MAX_HEADER_BYTES + 1)), _file("ok.txt")], 0, "w"))
    with pytest.raises(ArchiveLimitError):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    many = tmp_path / "many.tar"
    many.write_bytes(_archive([_file(f"{'n' * 120}-{n}.txt") for n in range(6)], tarfile.PAX_FORMAT, "w"))
    with pytest.raises(ArchiveLimitError, match="more than 10 members"):
        safe_extract(many, tmp_path / "out2", max_members=10)
    assert safe_extract(many, tmp_path / "out3", max_members=12).is_dir()
    assert isinstance(ArchiveLimitError("x"), UnsafeArchiveError)


@pytest.mark.parametrize(
    ("version", "fixed"),
    [
        ((3, 11, 7), False),
        ((3, 11, 10), False),  # CVE-2024-6232 fixed, not the 2025 extraction-filter bypasses
        ((3, 11, 13), True),
        ((3, 12, 8), False),
        ((3, 12, 11), True),
        ((3, 13, 3), False),
        ((3, 13, 4), True),
        ((3, 14, 0), True),
        ((3, 10, 18), False),
    ],
)
def test_which_pythons_have_the_tarfile_fixes(version: tuple[int, int, int], fixed: bool) -> None:
    assert python_has_tarfile_fixes(version) is fixed
