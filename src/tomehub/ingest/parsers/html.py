"""HTML: the article's visible text, without navigation and boilerplate (selectolax / Lexbor)."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tomehub.errors import CorruptDocument, EmptyDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section

_BOILERPLATE = "script, style, noscript, template, nav, header, footer, aside, form, iframe, svg"
_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6"}
_CHAPTER_HEADINGS = {"h1", "h2"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def html_sections(html: str) -> tuple[list[Section], str | None]:
    """Returns the sections of an HTML document (a chapter per h1/h2 heading) and its title."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    for node in tree.css(_BOILERPLATE):
        node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    sections: list[Section] = []
    chapter: str | None = None
    lines: list[str] = []
    has_body = False

    def flush() -> None:
        nonlocal has_body
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(text=text, chapter=chapter))
        lines.clear()
        has_body = False

    if root is not None:
        for node in _blocks(root):
            text = " ".join(node.text(separator=" ").split())
            if not text:
                continue
            if node.tag in _CHAPTER_HEADINGS:
                # A heading directly followed by a sub-heading stays as context of the sub-section.
                if has_body:
                    flush()
                chapter = text[:200]
            elif node.tag not in _HEADINGS:
                has_body = True
            lines.append(text)
        flush()
        if not sections:
            # A page of bare text without block elements.
            text = "\n".join(line.strip() for line in root.text(separator="\n").splitlines() if line.strip())
            if text:
                sections.append(Section(text=text))
    return sections, title


def _blocks(root: LexborNode) -> list[LexborNode]:
    """Returns the innermost block elements in document order (nested blocks are not read twice)."""
    found: list[LexborNode] = []

    def visit(node: LexborNode) -> bool:
        has_block_inside = False
        for child in node.iter(include_text=False):
            has_block_inside |= visit(child)
        if node.tag in _BLOCKS and not has_block_inside:
            found.append(node)
            return True
        return has_block_inside

    visit(root)
    return found


def parse_html(data: bytes, filename: str) -> ParsedDocument:
    html = data.decode("utf-8", errors="replace")
    try:
        sections, title = html_sections(html)
    except RecursionError as exc:
        raise CorruptDocument(f"{filename} is nested too deeply to read.") from exc
    if not sections:
        raise EmptyDocument(f"{filename} has no readable text.")
    return ParsedDocument(sections=sections, title=title)
