"""`make locks`'s inputs: the pins it reads and the development constraints it gives each image."""

from __future__ import annotations

from pathlib import Path

from images.locks import dev_constraints, read_pins


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "requirements.txt").write_text("aws-cdk-lib==2.275.0\n")
    (tmp_path / "requirements-dev.txt").write_text(
        "# comment\n-r requirements.txt\ntorch==2.13.0\nNumPy==2.4.6  # why\n"
        "aws-lambda-powertools[all]==3.37.0\nmoto[server]>=5\n-e ./client\n"
    )
    image = tmp_path / "containers" / "hosting"
    image.mkdir(parents=True)
    (image / "requirements.txt").write_text("torch==2.13.0\nnumpy==1.26.4\n")
    return tmp_path


def test_pins_follow_includes_normalise_names_and_drop_extras_and_ranges(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert read_pins(Path("requirements-dev.txt"), root) == {
        "aws-cdk-lib": "2.275.0",
        "torch": "2.13.0",
        "numpy": "2.4.6",
        "aws-lambda-powertools": "3.37.0",
    }


def test_lock_pins_with_markers_and_hashes_are_read(tmp_path: Path) -> None:
    (tmp_path / "x.lock").write_text(
        "anyio==4.16.0 ; sys_platform != 'emscripten' \\\n    --hash=sha256:abc\n    # via httpx2\n"
    )
    assert read_pins(Path("x.lock"), tmp_path) == {"anyio": "4.16.0"}


def test_an_image_is_constrained_by_every_dev_pin_it_does_not_pin_itself(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert dev_constraints("hosting", root) == [
        "aws-cdk-lib==2.275.0",
        "aws-lambda-powertools==3.37.0",
    ]
