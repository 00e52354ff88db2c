"""The README layout table and docs/architecture.md match the repository.

* every path named in the README's "Layout" table and in the architecture's "Module tree" exists;
* every module of the package is listed in the module tree (itself or its folder), private
  ``_name.py`` helpers and ``__init__.py`` files aside;
* every citation ``docs/architecture.md, "Section"`` in the package and the tests names a heading
  of that file, and nothing cites the old, out-of-repository ``ARCHITECTURE`` document.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

_QUOTED = re.compile(r'docs/architecture\.md,?\s+(?:section\s+)?"([^"]+)"')
_BARE = re.compile(r"docs/architecture\.md,\s+([A-Z][A-Za-z0-9 <>/\-]*?)\s*(?=[.;:)\"]|$)", re.MULTILINE)


def _section(text: str, heading: str) -> str:
    """The body of the markdown section ``heading`` (up to the next heading of the same or a higher level)."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert match, f"no section {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def _table_paths(section: str) -> list[str]:
    """Backticked paths in the first column of the markdown table(s) of ``section``."""
    paths = []
    for line in section.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        first = line.split("|")[1]
        paths += [p for p in re.findall(r"`([^`]+)`", first) if "/" in p or "." in p]
    return paths


def _headings(text: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


def _citations(text: str) -> list[str]:
    return _QUOTED.findall(text) + _BARE.findall(text)


def _sources() -> list[Path]:
    files = sorted((ROOT / "vggt_py").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    files += sorted((ROOT / "vggt_py").rglob("*.md"))
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def test_table_helpers_known_values() -> None:
    text = "# A\n\n## Layout\n\n| path | what |\n|---|---|\n| `a/b.py`, `c/` | x `d/e.py` |\n| `word` | y |\n\n## Next\n"
    assert _table_paths(_section(text, "Layout")) == ["a/b.py", "c/"]
    assert _headings(text) == {"A", "Layout", "Next"}
    cited = _citations('see docs/architecture.md, "Camera head"; (docs/architecture.md, Conventions).')
    assert sorted(cited) == ["Camera head", "Conventions"]


@pytest.mark.parametrize(("doc", "heading"), [(README, "Layout"), (ARCHITECTURE, "Module tree")])
def test_named_paths_exist(doc: Path, heading: str) -> None:
    paths = _table_paths(_section(doc.read_text(encoding="utf-8"), heading))
    assert len(paths) >= 15, f"{doc.name}: the {heading!r} table names only {paths}"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == [], f"{doc.name}, {heading!r}: paths that do not exist: {missing}"


def test_module_tree_covers_the_package() -> None:
    listed = {p.rstrip("/") for p in _table_paths(_section(ARCHITECTURE.read_text(encoding="utf-8"), "Module tree"))}
    unlisted = []
    for module in sorted((ROOT / "vggt_py").rglob("*.py")):
        rel = module.relative_to(ROOT)
        if module.name == "__init__.py" or module.name.startswith("_") and module.name != "__main__.py":
            continue
        if not any(str(p) in listed for p in [rel, *rel.parents]):
            unlisted.append(str(rel))
    assert unlisted == [], f"modules missing from docs/architecture.md's module tree: {unlisted}"


def test_citations_name_existing_sections() -> None:
    headings = _headings(ARCHITECTURE.read_text(encoding="utf-8"))
    bad = []
    for source in _sources():
        text = source.read_text(encoding="utf-8")
        bad += [f"{source.relative_to(ROOT)}: {name!r}" for name in _citations(text) if name not in headings]
    assert bad == [], f"citations of sections docs/architecture.md does not have: {bad}"


def test_no_citation_of_the_external_document() -> None:
    offenders = [str(s.relative_to(ROOT)) for s in _sources() if "ARCHITECTURE" in s.read_text(encoding="utf-8")]
    assert offenders == [], f"files citing ARCHITECTURE (cite docs/architecture.md instead): {offenders}"
