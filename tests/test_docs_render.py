"""Every Markdown page under docs/ reads correctly on GitHub, and the notes publish as the Hugo post.

GitHub renders CommonMark with tables and dollar math ($…$ inline, $$…$$ display). The pages are
parsed here the same way (markdown-it-py with mdit-py-plugins' dollarmath); a page fails on math in
another syntax (a leftover \\( or \\[), on a $ that opens no math, on unbalanced braces inside math,
on a relative link or image whose file or heading does not exist, and on front matter that GitHub
would print as text. New pages are picked up as they are added.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from types import ModuleType

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The post as it was published, kept byte for byte as the record the notes and tests start from.
# It is the blog's Hugo source, not a page for GitHub: the notes are its readable form.
AS_PUBLISHED = {DOCS / "original-post.md"}
PAGES = sorted(p for p in DOCS.rglob("*.md") if p not in AS_PUBLISHED)


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").use(dollarmath_plugin, double_inline=True)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading).strip().lower()
    text = "".join(c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    tokens = parser().parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            base = slug(tokens[i + 1].content)
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: name, name-1, name-2
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for tok in tokens:
        out.append(tok)
        out += walk(tok.children or [])
    return out


def problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    if text.startswith(("+++", "---")):
        found.append("front matter at the top shows as text on GitHub (keep it in an HTML comment)")
    tokens = walk(parser().parse(text))
    for tok in tokens:
        line = f"{path.name}:{(tok.map or [0])[0] + 1}"
        if tok.type == "inline":
            prose = re.sub(r"(`+).*?\1", "", tok.content, flags=re.S)
            prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", prose, flags=re.S)
            for delim in ("\\(", "\\[", "\\)", "\\]"):
                if delim in prose:
                    found.append(f"{line}: {delim} math, which GitHub does not render: {prose!r}")
        if tok.type in ("text",) and "$" in tok.content:
            found.append(f"{line}: a $ that opens no math: {tok.content!r}")
        if tok.type.startswith("math"):
            depth = 0
            for c in re.sub(r"\\[{}]", "", tok.content):
                depth += {"{": 1, "}": -1}.get(c, 0)
                if depth < 0:
                    break
            if depth:
                found.append(f"{line}: unbalanced braces in math {tok.content!r}")
            for a, b in [("\\left", "\\right"), ("\\begin", "\\end")]:
                count = [
                    len(re.findall(re.escape(w) + r"(?![a-zA-Z])", tok.content)) for w in (a, b)
                ]
                if count[0] != count[1]:
                    found.append(f"{line}: {a} without {b} in {tok.content!r}")
        target = tok.attrGet("href") if tok.type == "link_open" else tok.attrGet("src")
        if tok.type in ("link_open", "image") and isinstance(target, str):
            if re.match(r"[a-z]+:", target):
                continue  # an outside address: not fetched here
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                found.append(f"{line}: {target} does not exist")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                found.append(f"{line}: no heading #{anchor} in {dest.name}")
    return found


def test_there_are_pages() -> None:
    assert DOCS / "notes.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_renders_on_github(page: Path) -> None:
    assert problems(page) == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.png").write_bytes(b"")
    cases = {
        "+++\ntitle = 'x'\n+++\n\nText.\n": "front matter",
        "An old \\(x\\) span.\n": "\\(",
        "A display \\[x\\] span.\n": "\\[",
        "A price of $5 and nothing else.\n": "opens no math",
        "Braces $\\frac{a}{b$ here.\n": "unbalanced braces",
        "[gone](missing.md)\n": "does not exist",
        "![gone](missing.png)\n": "does not exist",
        "# Title\n\n[up](#titel)\n": "no heading #titel",
    }
    for source, complaint in cases.items():
        page.write_text(source)
        assert any(complaint in p for p in problems(page)), (source, problems(page))
    page.write_text(
        "# A title: `code`, $x$\n\n[up](#a-title-code-x) ![pic](there.png) `\\(kept\\)`\n\n"
        "$$\\frac{a}{b}$$\n\n    \\(in code\\)\n"
    )
    assert problems(page) == []


# ------------------------------------------------------------------------------ the Hugo post


def post_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("post", DOCS / "post.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_post_writes_the_hugo_page(tmp_path: Path) -> None:
    out = tmp_path / "notes.md"
    subprocess.run(
        [sys.executable, str(DOCS / "post.py"), str(DOCS / "notes.md"), str(out)], check=True
    )
    page = out.read_text(encoding="utf-8")
    source = (DOCS / "notes.md").read_text(encoding="utf-8")
    published = (DOCS / "original-post.md").read_text(encoding="utf-8")
    # The post's TOML front matter, as published, opens the page.
    header = re.match(r"\+\+\+\n.*?\n\+\+\+\n", published, re.S)
    assert header and page.startswith(header.group(0))
    assert "$" not in page.split("## Code")[0]
    # Every math span of the source, in order, is in the page with the post's delimiters.
    math = [t for t in walk(parser().parse(source)) if t.type.startswith("math")]
    spans = re.findall(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", page, re.S)
    assert [t.content.strip() for t in math] == [(a or b).strip() for a, b in spans]
    assert sum(t.type == "math_block" for t in math) == sum(bool(b) for _, b in spans)
    # and the code is untouched
    assert page.split("## Code", 1)[1] == source.split("## Code", 1)[1]


def test_to_hugo_leaves_code_alone() -> None:
    to_hugo = post_module().to_hugo
    source = (
        "<!-- front matter\n+++\ntitle = 'x'\n+++\n-->\n"
        "Text $a$ and `$b$`.\n\n$$c$$\n\n    $d$ code\n\n```\n$e$\n```\n"
    )
    assert to_hugo(source) == (
        "+++\ntitle = 'x'\n+++\n"
        "Text \\(a\\) and `$b$`.\n\n\\[c\\]\n\n    $d$ code\n\n```\n$e$\n```\n"
    )
    with pytest.raises(ValueError, match="front matter"):
        to_hugo("no header\n")
