"""The packed BM25 postings: the layout of a ``lexeme_postings`` block and its conversions.

A block holds up to ``BLOCK_POSTINGS`` postings of one (user, lexeme) (more when one document
alone brings more) as three byte strings of equal length in postings: big-endian int8 chunk ids,
int2 term frequencies and int4 chunk lengths, in the order they were written. SQL writes them with
``int8send``/``int2send``/``int4send`` (library/repo.py), numpy reads them without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Postings per block before a new one starts. A write appends to the lexeme's last block, so a
# bigger block costs more per write (the row is rewritten) and less per search (fewer rows).
BLOCK_POSTINGS = 128

ID_DTYPE = np.dtype(">i8")
TF_DTYPE = np.dtype(">i2")
LEN_DTYPE = np.dtype(">i4")


@dataclass(frozen=True)
class PackedBlock:
    """One block's postings as arrays (views of the row's bytes until changed)."""

    chunk_ids: np.ndarray
    tfs: np.ndarray
    doc_lens: np.ndarray

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PackedBlock:
        return cls(
            chunk_ids=np.frombuffer(row["chunk_ids"], dtype=ID_DTYPE),
            tfs=np.frombuffer(row["tfs"], dtype=TF_DTYPE),
            doc_lens=np.frombuffer(row["doc_lens"], dtype=LEN_DTYPE),
        )

    @property
    def n(self) -> int:
        return len(self.chunk_ids)

    @property
    def min_id(self) -> int:
        return int(self.chunk_ids.min())

    @property
    def max_id(self) -> int:
        return int(self.chunk_ids.max())

    def without(self, chunk_ids: np.ndarray) -> PackedBlock:
        """Returns the block without the postings of ``chunk_ids`` (``self`` if it holds none)."""
        keep = ~np.isin(self.chunk_ids, chunk_ids)
        if keep.all():
            return self
        return PackedBlock(self.chunk_ids[keep], self.tfs[keep], self.doc_lens[keep])
