"""Validate the demo-en retrieval set against the demo library.

For every question in ``qa.json`` this extracts the visible text of the referenced demo file, normalises
whitespace, and asserts that the ``support_excerpt`` occurs in it verbatim, exactly once, and in no other
file of the library. It also checks the shape of
the set (unique ids, known files, excerpt length, style labels) and that ``manifest.json`` lists every
file in the library.

Extraction mirrors what a reader sees:

* PDF: the text layer of each page, via pypdfium2 (an excerpt must lie within one page, since the
  product keeps pages apart);
* EPUB: every document in the spine, via ebooklib and selectolax;
* HTML: the page body without <script>/<style>, via selectolax;
* Markdown: the file as written, and the text markdown-it-py renders from it (when installed);
* plain text: the file as written.

Where a file has several variants (HTML and EPUB: inline nodes joined with a space and with nothing;
Markdown: source and rendered text) the excerpt must occur in every one, so the set does not depend on
such choices of the product's parser.

Usage: ``python benchmarks/datasets/demo-en/check.py [--library PATH]`` (needs pypdfium2, ebooklib
and selectolax, which are TomeHub dependencies). Exits non-zero on the first kind of failure found.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_LIBRARY = REPO / "src" / "tomehub" / "demo" / "library"

STYLES = {"lexical", "paraphrase", "keyword"}
ITEM_TYPES = {"BOOK", "ARTICLE", "WEBSITE", "PERSONAL_NOTE"}
NOTE_TYPES = {"HIGHLIGHT", "INSIGHT", "PERSONAL_NOTE"}
# The fields a typed text item accepts (tomehub.ingest.schemas.AddItemIn forbids any other).
NOTE_FIELDS = {"item_type", "text", "title", "author", "page", "chapter", "tags"}
MIN_EXCERPT_WORDS = 8
MARKDOWN_MARKUP = re.compile(r"[*_`\[\]#]")


def normalise(text: str) -> str:
    """NFC, then every run of whitespace (including non-breaking spaces) becomes one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _html_texts(markup: str | bytes) -> list[str]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return ["", ""]
    return [root.text(separator=" "), root.text(separator="")]


def _markdown_rendered(source: str) -> str | None:
    """The text of a Markdown file's inline tokens, as the product's Markdown parser reads it."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # optional here; TomeHub itself depends on it
        return None
    lines = []
    for token in MarkdownIt("commonmark").enable("table").parse(source):
        if token.type == "inline":
            children = token.children or []
            text = "".join(c.content for c in children if c.type in {"text", "code_inline"})
            lines.append(text or token.content)
    return "\n".join(lines)


def extract_variants(path: Path) -> list[list[str]]:
    """The visible text of a demo file: one or more variants, each a list of normalised parts.

    An excerpt must occur within one part of every variant (a PDF has a part per page).
    """
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [[normalise(path.read_text(encoding="utf-8"))]]
    if suffix == ".md":
        source = path.read_text(encoding="utf-8")
        rendered = _markdown_rendered(source)
        return [[normalise(source)]] + ([[normalise(rendered)]] if rendered is not None else [])
    if suffix in {".html", ".htm"}:
        return [[normalise(t)] for t in _html_texts(path.read_bytes())]
    if suffix == ".epub":
        import ebooklib
        from ebooklib import epub

        book = epub.read_epub(str(path), {"ignore_ncx": True})
        spaced: list[str] = []
        joined: list[str] = []
        for idref, _linear in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
                continue
            a, b = _html_texts(item.get_content())
            spaced.append(normalise(a))
            joined.append(normalise(b))
        return [spaced, joined]
    if suffix == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            pages = []
            for index in range(len(pdf)):
                page = pdf[index]
                textpage = page.get_textpage()
                pages.append(normalise(textpage.get_text_bounded()))
                textpage.close()
                page.close()
        finally:
            pdf.close()
        return [pages]
    raise ValueError(f"unsupported file type: {path.name}")


def check_manifest(library: Path) -> list[str]:
    errors: list[str] = []
    manifest = json.loads((library / "manifest.json").read_text(encoding="utf-8"))
    listed = []
    for doc in manifest["files"]:
        missing = {"file", "title", "author", "item_type", "tags"} - doc.keys()
        if missing:
            errors.append(f"manifest: {doc.get('file')} lacks {sorted(missing)}")
        if doc.get("item_type") not in ITEM_TYPES:
            errors.append(f"manifest: {doc.get('file')} has item_type {doc.get('item_type')!r}")
        if not (library / doc["file"]).is_file():
            errors.append(f"manifest: {doc['file']} does not exist")
        listed.append(doc["file"])
    on_disk = {p.name for p in library.iterdir() if p.is_file() and p.name != "manifest.json"}
    for name in sorted(on_disk - set(listed)):
        errors.append(f"manifest: {name} is in the library but not listed")
    for note in manifest["notes"]:
        unknown = set(note) - NOTE_FIELDS
        if unknown:
            errors.append(f"manifest note {note.get('title')!r}: fields {sorted(unknown)} are not accepted")
        if note.get("item_type") not in NOTE_TYPES:
            errors.append(f"manifest note {note.get('title')!r}: item_type {note.get('item_type')!r}")
        if note.get("item_type") == "HIGHLIGHT" and not isinstance(note.get("page"), int):
            errors.append(f"manifest note {note.get('title')!r}: a highlight needs an int page")
        if not note.get("text") or not note.get("title"):
            errors.append(f"manifest note {note.get('title')!r}: empty title or text")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the demo-en labelled set against the demo library.")
    parser.add_argument("--library", type=Path, default=DEFAULT_LIBRARY, help="demo library folder")
    parser.add_argument("--qa", type=Path, default=HERE / "qa.json", help="labelled set")
    args = parser.parse_args(argv)

    questions = json.loads(args.qa.read_text(encoding="utf-8"))
    errors = check_manifest(args.library)

    ids = Counter(q["id"] for q in questions)
    errors += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    texts = Counter(normalise(q["question"]).lower() for q in questions)
    errors += [f"duplicate question {t!r}" for t, n in texts.items() if n > 1]
    if not 60 <= len(questions) <= 80:
        errors.append(f"expected 60-80 questions, found {len(questions)}")

    cache: dict[str, list[list[str]]] = {}
    for q in questions:
        qid, name = q["id"], q["file"]
        excerpt = normalise(q["support_excerpt"])
        if q.get("style") not in STYLES:
            errors.append(f"{qid}: style {q.get('style')!r} not in {sorted(STYLES)}")
        if len(excerpt.split()) < MIN_EXCERPT_WORDS:
            errors.append(f"{qid}: excerpt shorter than {MIN_EXCERPT_WORDS} words: {excerpt!r}")
        if name.endswith(".md") and MARKDOWN_MARKUP.search(excerpt):
            errors.append(f"{qid}: excerpt contains Markdown markup: {excerpt!r}")
        path = args.library / name
        if not path.is_file():
            errors.append(f"{qid}: unknown file {name}")
            continue
        if name not in cache:
            cache[name] = extract_variants(path)
        for variant in cache[name]:
            count = sum(part.count(excerpt) for part in variant)
            if count == 0:
                errors.append(f"{qid}: excerpt not found in {name}: {excerpt!r}")
                break
            if count > 1:
                errors.append(f"{qid}: excerpt occurs {count} times in {name}; make it unique")
                break

    # An excerpt must identify one passage of the whole library, not just of its own file.
    others = sorted(p.name for p in args.library.iterdir() if p.is_file() and p.name != "manifest.json")
    for name in others:
        if name not in cache:
            cache[name] = extract_variants(args.library / name)
    for q in questions:
        excerpt = normalise(q["support_excerpt"])
        for name in others:
            if name != q["file"] and any(excerpt in part for part in cache[name][0]):
                errors.append(f"{q['id']}: excerpt also occurs in {name}")

    per_file = Counter(q["file"] for q in questions)
    per_style = Counter(q.get("style") for q in questions)
    print(f"{len(questions)} questions over {len(per_file)} files")
    for name, n in sorted(per_file.items()):
        print(f"  {n:3d}  {name}")
    print("styles: " + ", ".join(f"{s}={n}" for s, n in sorted(per_style.items())))

    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for error in errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    print("OK: every support_excerpt occurs verbatim in its file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
