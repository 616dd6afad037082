"""Markdown: the rendered text, one chapter per heading (markdown-it-py's token stream)."""

from __future__ import annotations

from markdown_it import MarkdownIt

from tomehub.errors import EmptyDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.ingest.parsers.text import decode_text

_md = MarkdownIt("commonmark").enable("table")


def parse_markdown(data: bytes, filename: str) -> ParsedDocument:
    source = decode_text(data, filename)
    tokens = _md.parse(source)
    sections: list[Section] = []
    chapter: str | None = None
    title: str | None = None
    lines: list[str] = []
    has_body = False
    in_heading = False

    def flush() -> None:
        nonlocal has_body
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(text=text, chapter=chapter))
        lines.clear()
        has_body = False

    for token in tokens:
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline":
            text = "".join(child.content for child in (token.children or []) if child.type in {"text", "code_inline"})
            text = text or token.content
            if in_heading:
                # A heading directly followed by a sub-heading stays as context of the sub-section.
                if has_body:
                    flush()
                chapter = text.strip()[:200] or chapter
                title = title or chapter
            else:
                has_body = True
            lines.append(text)
        elif token.type in {"fence", "code_block"}:
            lines.append(token.content.rstrip("\n"))
            has_body = True
    flush()
    if not sections:
        raise EmptyDocument(f"{filename} has no text.")
    return ParsedDocument(sections=sections, title=title)
