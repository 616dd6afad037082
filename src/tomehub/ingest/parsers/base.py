"""What every parser returns: the document's text in sections that remember their page or chapter."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text from one page (PDF) or one chapter (EPUB, Markdown, HTML)."""

    text: str
    page: int | None = None
    chapter: str | None = None
    # The text was recognised by OCR from a scanned page (it may hold recognition errors).
    ocr: bool = False


@dataclass
class ParsedDocument:
    sections: list[Section]
    title: str | None = None
    author: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def char_count(self) -> int:
        return sum(len(s.text) for s in self.sections)

    def has_text(self) -> bool:
        return any(s.text.strip() for s in self.sections)
