"""Sections out of a flat run of headings and paragraphs (word-processor documents)."""

from __future__ import annotations

from tomehub.ingest.parsers.base import Section

# Heading 1 and 2 start a chapter (like h1/h2 in HTML); deeper headings stay inside it as text.
_CHAPTER_LEVELS = {0, 1, 2}


class OutlineWriter:
    """Collects paragraphs in order and cuts a section at each chapter heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.title: str | None = None
        self._chapter: str | None = None
        self._lines: list[str] = []
        self._has_body = False

    def heading(self, text: str, level: int) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if level == 0 or (self.title is None and level == 1):
            self.title = self.title or text[:500]
        if level in _CHAPTER_LEVELS:
            # A heading directly followed by a sub-heading stays as context of the sub-section.
            if self._has_body:
                self._flush()
            self._chapter = text[:200]
        self._lines.append(text)

    def paragraph(self, text: str) -> None:
        text = text.strip()
        if text:
            self._lines.append(text)
            self._has_body = True

    def finish(self) -> list[Section]:
        self._flush()
        return self.sections

    def _flush(self) -> None:
        text = "\n".join(self._lines).strip()
        if text and self._has_body:
            self.sections.append(Section(text=text, chapter=self._chapter))
        elif text and self.sections:
            # Trailing headings with no body: kept with the last section rather than lost.
            last = self.sections[-1]
            self.sections[-1] = Section(text=f"{last.text}\n{text}", page=last.page, chapter=last.chapter)
        elif text:
            self.sections.append(Section(text=text, chapter=self._chapter))
        self._lines.clear()
        self._has_body = False
