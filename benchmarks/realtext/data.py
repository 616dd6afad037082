"""The SciFact development set as the benchmark's library and queries."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from retrieval_eval import Query, load_beir


@dataclass(frozen=True)
class Library:
    files: list[tuple[str, bytes]]  # (``<doc id>.txt``, title + blank line + abstract)
    queries: list[Query]  # relevant docs restricted to the library
    warmup: list[str]  # other strings than the queries (a repeated query would be a cache hit)


def scifact_library(root: Path, n_docs: int, n_queries: int, n_warmup: int) -> Library:
    """The first ``n_queries`` claims whose evidence fits in ``n_docs`` abstracts, that evidence, then
    the corpus in its order up to ``n_docs``. Each abstract is one ``.txt`` item titled by its doc id
    (as ``retrieval_eval.py`` ingests it), so a hit's title names its document."""
    dataset = load_beir(root, "dev", "scifact-dev")
    by_id = {name.removesuffix(".txt"): (name, body) for name, body in dataset.files}
    chosen: dict[str, tuple[str, bytes]] = {}
    queries: list[Query] = []
    seen: set[str] = set()
    for query in dataset.queries:
        evidence = [d for d in query.relevant if d in by_id]
        # A claim asked twice would be a cache hit the second time.
        if len(queries) >= n_queries or not evidence or query.text in seen:
            continue
        if len(chosen) + len([d for d in evidence if d not in chosen]) > n_docs:
            continue
        for doc_id in evidence:
            chosen.setdefault(doc_id, by_id[doc_id])
        seen.add(query.text)
        queries.append(Query(query.qid, query.text, relevant={d: query.relevant[d] for d in evidence}))
    for doc_id, file in by_id.items():
        if len(chosen) >= n_docs:
            break
        chosen.setdefault(doc_id, file)
    texts = {q.text for q in queries}
    # Warm-up strings: claims with their words reversed (same vocabulary, never a measured query).
    warmup = [" ".join(reversed(q.text.split())) for q in dataset.queries]
    warmup = [w for w in dict.fromkeys(warmup) if w not in texts][:n_warmup]
    return Library(files=list(chosen.values()), queries=queries, warmup=warmup)


def library_zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files:
            archive.writestr(name, body)
    return buffer.getvalue()
