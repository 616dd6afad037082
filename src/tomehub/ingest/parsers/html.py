"""HTML: the article's visible text, without navigation and boilerplate (selectolax / Lexbor).

Text drawn as pictures counts too: fixed-layout EPUB pages carry their words in inline SVG
``<text>``/``<tspan>`` elements, and an image's alt text (or an SVG's ``<desc>``) says what it shows.
An SVG's ``<title>`` is left out: it is a tooltip label ("Page 3", a file name), not prose.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tomehub.errors import CorruptDocument, EmptyDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section

_BOILERPLATE = "script, style, noscript, template, nav, header, footer, aside, form, iframe"
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
    _read_pictures(tree)
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


def _read_pictures(tree: LexborHTMLParser) -> None:
    """Replaces each inline SVG and each image by the words it shows (its text lines, else its
    description or alt text): inline inside a paragraph, as paragraphs of their own elsewhere."""
    # Outermost SVGs only, chosen before any is replaced (a nested one goes with its parent).
    for svg in [node for node in tree.css("svg") if not _inside(node, "svg")]:
        lines = [_svg_line(node) for node in svg.css("text") if not _inside(node, "text")]
        lines = [line for line in lines if line]
        if not lines:
            lines = [" ".join(node.text(separator=" ").split()) for node in svg.css("desc")]
        _replace(tree, svg, [line for line in lines if line])
    for img in tree.css("img"):  # those inside an SVG went with it
        alt = " ".join((img.attributes.get("alt") or "").split())
        _replace(tree, img, [alt] if alt else [])


def _svg_line(text: LexborNode) -> str:
    """Returns the words of an SVG <text> in document order. A <tspan> placed at its own x or y
    starts a new word (fixed-layout pages place each word or run that way); one that just continues
    the line (a change of style mid-word) is joined as drawn."""
    parts: list[str] = []

    def visit(node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            if child.tag == "-text":
                parts.append(child.text_content or "")
            elif child.tag in ("desc", "title"):
                continue
            else:
                attrs = child.attributes
                if "x" in attrs or "y" in attrs:
                    parts.append(" ")
                visit(child)

    visit(text)
    return " ".join("".join(parts).split())


def _inside(node: LexborNode, tags: str | set[str]) -> bool:
    wanted = {tags} if isinstance(tags, str) else tags
    parent = node.parent
    while parent is not None:
        if parent.tag in wanted:
            return True
        parent = parent.parent
    return False


def _replace(tree: LexborHTMLParser, node: LexborNode, lines: list[str]) -> None:
    if not lines:
        node.decompose()
    elif _inside(node, _BLOCKS):
        node.replace_with(" " + " ".join(lines) + " ")
    else:
        for line in lines:
            paragraph = tree.create_node("p")
            paragraph.insert_child(line)
            node.insert_before(paragraph)
        node.decompose()


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
