"""The README links only into the repository (files that exist, headings that exist), apart
from the one mention of Inngest's homepage: its depth lives in docs/, built by scripts/docs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ALLOWED_OUTSIDE = {"https://www.inngest.com"}

INLINE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>]+)>")  # <https://...>
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)  # [label]: target
BARE = re.compile(r"(?<![`(<\w])https?://[^\s)>`]+")


def _prose(text: str) -> str:
    """The README without its fenced code blocks and inline code, where URLs are examples."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _targets() -> list[str]:
    prose = _prose(README.read_text())
    return [
        *INLINE.findall(prose),
        *AUTOLINK.findall(prose),
        *REFERENCE.findall(prose),
        *BARE.findall(INLINE.sub("", prose)),
    ]


def test_the_readme_links_only_to_files_in_the_repository() -> None:
    targets = _targets()
    assert targets, "the README should link into docs/"
    headings = {
        _slug(line.lstrip("#"))
        for line in _prose(README.read_text()).splitlines()
        if line.startswith("#")
    }
    for target in targets:
        if target in ALLOWED_OUTSIDE:
            continue
        assert "://" not in target, f"the README links outside the repository: {target}"
        assert not target.startswith(("//", "mailto:")), f"the README links outside: {target}"
        path, _, anchor = target.partition("#")
        if not path:
            assert anchor in headings, f"the README links to a missing heading: {target}"
            continue
        resolved = (ROOT / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"the README links to a missing file: {target}"


def test_the_readme_points_into_the_docs() -> None:
    docs = {t.partition("#")[0] for t in _targets() if t.startswith("docs/")}
    for page in ("docs/guides/migrating-from-inngest.md", "docs/reference/api.md"):
        assert page in docs, f"the README should link to {page}"
