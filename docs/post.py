"""Write the Hugo page of the notes: `python docs/post.py docs/notes.md out/post/notes.md`.

docs/notes.md is the one source, written for GitHub: math as $…$ and $$…$$, and the post's TOML
front matter kept inside an HTML comment at the top, so that GitHub shows neither. The Hugo page
(`make post`) has the post's own syntax: the front matter between +++ lines, math as \\( \\) and
\\[ \\]. Code (fenced blocks, indented blocks, inline spans) is copied as it is.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FRONT_MATTER = re.compile(r"\A<!--[^\n]*\n(\+\+\+\n.*?\n\+\+\+\n)-->\n", re.S)
# $$…$$ first, then $…$; a $ inside either is not allowed, so the shortest match is the span.
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE = re.compile(r"\$([^$\n]+?)\$")
CODE_SPAN = re.compile(r"(`+)(.*?)\1", re.S)


def _math(prose: str) -> str:
    """Convert the math of a piece of prose that holds no code."""
    prose = DISPLAY.sub(lambda m: "\\[" + m.group(1) + "\\]", prose)
    return INLINE.sub(lambda m: "\\(" + m.group(1) + "\\)", prose)


def _paragraph(text: str) -> str:
    """Convert the math of a paragraph, leaving its inline code spans alone."""
    out, pos = [], 0
    for m in CODE_SPAN.finditer(text):
        out += [_math(text[pos : m.start()]), m.group(0)]
        pos = m.end()
    return "".join([*out, _math(text[pos:])])


def to_hugo(source: str) -> str:
    """The Hugo page for a notes source: front matter restored, math in the post's delimiters."""
    match = FRONT_MATTER.match(source)
    if not match:
        raise ValueError("the notes must begin with the post's front matter in an HTML comment")
    body = source[match.end() :]
    out: list[str] = []
    prose: list[str] = []
    fenced = indented = False

    def flush() -> None:
        if prose:
            out.append(_paragraph("\n".join(prose)))
            prose.clear()

    for line in body.split("\n"):
        blank = not line.strip()
        if indented and not (blank or line.startswith("    ")):
            indented = False
        if not fenced and not indented and line.startswith("    ") and not prose:
            indented = True  # an indented code block opens after a blank line
        if line.startswith("```"):
            flush()
            fenced = not fenced
            out.append(line)
        elif fenced or indented:
            out.append(line)
        elif blank:
            flush()
            out.append(line)
        else:
            prose.append(line)
    flush()
    return match.group(1) + "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python docs/post.py NOTES.md OUT.md", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    try:
        page = to_hugo(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"post: {source}: {e}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)  # atomic: a failed run leaves the previous page whole
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
