"""The documentation's references resolve: relative links in README.md and docs/*.md, and every module and
name in docs/development.md "Where each concept lives"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`]+)`")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"#+\s+(.*)", line)
        if heading:
            slug = _slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(root: Path) -> list[str]:
    """`page: target` for every relative link whose file, or `.md` heading, does not exist."""
    broken = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (fragment and dest.suffix == ".md" and fragment not in _anchors(dest)):
                broken.append(f"{page.relative_to(root)}: {target}")
    return broken


def test_relative_links_resolve() -> None:
    assert broken_links(REPO) == []


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Its `part` (one)\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#its-part-one) [gone](docs/b.md) [no heading](docs/a.md#nope) [web](https://x.org/)\n"
    )
    assert broken_links(tmp_path) == ["README.md: docs/b.md", "README.md: docs/a.md#nope"]


def _concept_rows() -> list[tuple[str, str]]:
    text = (REPO / "docs" / "development.md").read_text()
    if "## Where each concept lives" not in text:
        return []
    section = text.split("## Where each concept lives", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return [(cells[1].strip(), cells[2]) for cells in rows]


def _defines(source: str, name: str) -> bool:
    pattern = rf"^\s*(?:class|def)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*[:=]"
    return re.search(pattern, source, re.MULTILINE) is not None


@pytest.mark.parametrize(("concept", "cell"), _concept_rows())
def test_each_concept_names_an_existing_definition(concept: str, cell: str) -> None:
    """The second column: a module path, then the names it defines (the next path starts another)."""
    module: Path | None = None
    for item in CODE.findall(cell):
        if item.endswith(".py"):
            module = REPO / item
            assert module.is_file(), f"{concept}: no {item}"
        else:
            assert module is not None, f"{concept}: `{item}` before any module"
            where = module.relative_to(REPO)
            assert _defines(module.read_text(), item), f"{concept}: {where} defines no {item}"
    assert module is not None, f"{concept}: no module named"


def test_the_concept_table_is_there() -> None:
    assert len(_concept_rows()) >= 30
