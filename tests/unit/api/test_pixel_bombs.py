"""Issue 21 M3: the trainings function's memory is bounded by pixels checked before decoding, whatever the
selfies are. A 131 KB flat PNG (6300 x 6300) would decode to 159 MiB: it is refused from its header. A
621 KB flat JPEG of the same size is decoded at 1/8 scale. Twenty of them are checked and screened one at
a time at the working size, never held together; so are four of the largest PNGs the cap allows. Peak
memory is measured in a fresh interpreter (`ru_maxrss`), after a warm-up that loads the face models."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from avatar_api.settings import MAX_DECODED_PIXELS

REPO = Path(__file__).resolve().parents[3]
MIB = 2**20

_MEASURE = r"""
import json, resource, sys
from pathlib import Path

from avatar_api.domain import screening
from avatar_api.domain.uploads import InlineImage
from avatar_api.errors import PayloadTooLarge
from avatar_contract.training import TrainingHyperparameters

folder = Path(sys.argv[1])
names = ("small.jpg", "bomb.png", "bomb.jpg", "big.png")
small, png_bomb, jpeg_bomb, big_png = [(folder / name).read_bytes() for name in names]
hyper = TrainingHyperparameters()


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


screening.load_and_screen(None, "o", [InlineImage(small)], hyper)  # warm-up: face models, decoders
base = peak()
try:
    screening.load_and_screen(None, "o", [InlineImage(png_bomb)] * 20, hyper)
    refused = False
except PayloadTooLarge as error:
    refused = "too many pixels" in error.message
after_png = peak()
images, screened = screening.load_and_screen(None, "o", [InlineImage(jpeg_bomb)] * 20, hyper)
after_jpeg = peak()
screening.load_and_screen(None, "o", [InlineImage(big_png)] * 4, hyper)
after_big = peak()
print(json.dumps({
    "refused": refused,
    "png_growth": after_png - base,
    "jpeg_growth": after_jpeg - base,
    "big_png_growth": after_big - base,
    "checked": [(image.width, image.height) for image in images],
    "verdicts": len(screened.verdicts) if screened else 0,
}))
"""


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_pixel_bombs_are_decoded_in_bounded_memory(tmp_path: Path) -> None:
    (tmp_path / "small.jpg").write_bytes(_encoded(Image.new("RGB", (640, 480), (120, 110, 100)), "JPEG"))
    flat = Image.new("RGB", (6300, 6300), (200, 180, 160))
    (tmp_path / "bomb.png").write_bytes(_encoded(flat, "PNG"))
    (tmp_path / "bomb.jpg").write_bytes(_encoded(flat, "JPEG"))
    (tmp_path / "big.png").write_bytes(_encoded(Image.new("RGB", (4096, 4096), (90, 90, 90)), "PNG"))
    del flat
    assert (tmp_path / "bomb.png").stat().st_size < 140_000

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in (".", "lambdas"))}
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])

    # The PNG bomb: refused from its header, nothing decoded (one full decode would be 159 MiB).
    assert found["refused"] is True
    assert found["png_growth"] < 16 * MIB, found
    # Twenty JPEG bombs (20 x 159 MiB at full size, 3.1 GiB): each decoded at 1/8 (788 x 788) and dropped.
    assert found["checked"] == [[6300, 6300]] * 20 and found["verdicts"] == 20
    assert found["jpeg_growth"] < 48 * MIB, found
    # The largest PNG the cap allows (4096 x 4096, 64 MiB as RGBA), four times: one at a time, so the
    # peak is about one image's decoding, not four.
    assert MAX_DECODED_PIXELS * 4 == 64 * MIB
    assert found["big_png_growth"] < 2 * 64 * MIB, found
