"""Text drawn as pictures: inline SVG text (fixed-layout EPUB pages) and image alt text are read."""

from __future__ import annotations

import io
import zipfile

from tomehub.ingest.parsers import parse_document

_SVG = "http://www.w3.org/2000/svg"


def _svg_page(lines: list[list[str]], *, title: str = "Page") -> str:
    """Returns an XHTML page whose only text sits in SVG <text>, one <tspan> per word at its own x."""
    texts = []
    for n, words in enumerate(lines):
        spans = "".join(f'<tspan x="{40 + 60 * i}" y="{50 + 30 * n}">{w}</tspan>' for i, w in enumerate(words))
        texts.append(f'<text font-size="20">{spans}</text>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f'<head><title>{title}</title><meta name="viewport" content="width=600, height=800"/></head>'
        f'<body><div class="page"><svg xmlns="{_SVG}" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="600" height="800" viewBox="0 0 600 800">'
        f"<title>{title}</title>"
        '<image width="600" height="800" xlink:href="images/fond.jpg"/>'
        f"{''.join(texts)}</svg></div></body></html>"
    )


def _fixed_layout_epub(pages: list[str], *, title: str, author: str) -> bytes:
    """Returns a pre-paginated (fixed-layout) EPUB 3 built member by member, as such books ship."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        manifest = "".join(
            f'<item id="p{n}" href="page{n}.xhtml" media-type="application/xhtml+xml" properties="svg"/>'
            for n in range(1, len(pages) + 1)
        )
        spine = "".join(f'<itemref idref="p{n}" properties="page-spread-right"/>' for n in range(1, len(pages) + 1))
        z.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="fr">'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="uid">urn:uuid:0f6c1d2e-tomehub-fxl</dc:identifier><dc:title>{title}</dc:title>'
            f"<dc:creator>{author}</dc:creator><dc:language>fr</dc:language>"
            '<meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>'
            '<meta property="rendition:layout">pre-paginated</meta></metadata>'
            '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
            '<item id="fond" href="images/fond.jpg" media-type="image/jpeg"/>'
            f"{manifest}</manifest><spine>{spine}</spine></package>",
        )
        z.writestr(
            "OEBPS/nav.xhtml",
            '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Sommaire</title></head><body>'
            '<nav epub:type="toc"><ol><li><a href="page1.xhtml">Début</a></li></ol></nav></body></html>',
        )
        z.writestr("OEBPS/images/fond.jpg", b"\xff\xd8\xff\xe0 not really a picture")
        for n, page in enumerate(pages, start=1):
            z.writestr(f"OEBPS/page{n}.xhtml", page)
    return out.getvalue()


def test_xhtml_page_whose_text_is_only_in_svg() -> None:
    page = _svg_page([["Il", "était", "une", "fois"], ["un", "petit", "château."]], title="Page 1")
    doc = parse_document(page.encode(), "page1.xhtml")
    assert [s.text for s in doc.sections] == ["Il était une fois\nun petit château."]


def test_svg_tspans_that_continue_a_line_are_joined_as_drawn() -> None:
    html = (
        f'<html><body><svg xmlns="{_SVG}"><text x="0" y="10">Bon<tspan font-style="italic">jour</tspan>'
        '<tspan x="80">à</tspan>\n<tspan>tous</tspan></text><title>Tooltip only</title></svg></body></html>'
    )
    assert parse_document(html.encode(), "a.html").sections[0].text == "Bonjour à tous"


def test_svg_without_text_is_read_by_its_description() -> None:
    html = (
        f'<html><body><p>Avant.</p><svg xmlns="{_SVG}"><title>fig-3.svg</title>'
        "<desc>Carte de la Loire et de ses châteaux</desc><path d='M0 0L1 1'/></svg><p>Après.</p></body></html>"
    )
    text = parse_document(html.encode(), "b.html").sections[0].text
    assert text.splitlines() == ["Avant.", "Carte de la Loire et de ses châteaux", "Après."]
    assert "fig-3" not in text


def test_image_alt_text_is_part_of_the_page() -> None:
    html = (
        "<html><body><article><p>See <img src='m.png' alt='a map of Lyon'> above.</p>"
        "<figure><img src='c.png' alt='  The old   bridge '><figcaption>Built in 1840.</figcaption></figure>"
        "<p>Decorative: <img src='d.png' alt=''><img src='e.png'> none.</p></article></body></html>"
    )
    lines = parse_document(html.encode(), "c.html").sections[0].text.splitlines()
    assert lines == ["See a map of Lyon above.", "The old bridge", "Built in 1840.", "Decorative: none."]


def test_image_alone_on_a_page_is_its_alt_text() -> None:
    doc = parse_document(b"<html><body><div><img src='x.png' alt='Portrait of Colette'></div></body></html>", "d.html")
    assert doc.sections[0].text == "Portrait of Colette"


def test_fixed_layout_french_epub_is_read_in_page_order() -> None:
    pages = [
        _svg_page([["Le", "Petit", "Prince"], ["Antoine", "de", "Saint-Exupéry"]], title="Couverture"),
        _svg_page([["Lorsque", "j'avais", "six", "ans,"], ["j'ai", "vu,", "une", "fois,"]], title="Page 2"),
        _svg_page([["une", "magnifique", "image,", "dans", "un", "livre"], ["sur", "la", "Forêt", "Vierge"]]),
    ]
    data = _fixed_layout_epub(pages, title="Le Petit Prince", author="Antoine de Saint-Exupéry")
    doc = parse_document(data, "petit-prince.epub")
    assert doc.title == "Le Petit Prince"
    assert doc.author == "Antoine de Saint-Exupéry"
    text = "\n".join(s.text for s in doc.sections)
    assert text.splitlines() == [
        "Le Petit Prince",
        "Antoine de Saint-Exupéry",
        "Lorsque j'avais six ans,",
        "j'ai vu, une fois,",
        "une magnifique image, dans un livre",
        "sur la Forêt Vierge",
    ]
    assert doc.sections[0].chapter == "Début"
