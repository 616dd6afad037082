"""What the lemma list costs at ingestion: zeyrek's load, then a text's words lemmatised cold and warm.

    .venv/bin/python benchmarks/lemma_cost.py ../shared/datasets/nutuk/NUTUK_1.txt

Cold is a fresh per-process word cache (every distinct word analysed once); warm is the same text
again (every word a cache hit), which is what re-ingesting or querying a known vocabulary costs.
Compare with the ingestion time of the same text (retrieval_eval.py prints it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tomehub.library import lemmas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", type=Path)
    args = parser.parse_args()
    text = args.text.read_text(encoding="utf-8")
    words = lemmas.words(text)

    started = time.perf_counter()
    lemmas.lemma_tokens("yükle", "turkish")
    load_s = time.perf_counter() - started
    lemmas.analyses.cache_clear()

    started = time.perf_counter()
    cold = lemmas.lemma_tokens(text, "turkish")
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = lemmas.lemma_tokens(text, "turkish")
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    exact = lemmas.exact_tokens(text)
    exact_s = time.perf_counter() - started
    assert cold == warm and len(exact) == len(words)
    distinct = lemmas.analyses.cache_info().currsize
    print(f"{args.text.name}: {len(words)} words, {distinct} distinct")
    print(f"zeyrek load: {load_s:.1f} s")
    print(f"lemmas cold: {cold_s:.1f} s ({cold_s / max(distinct, 1) * 1000:.2f} ms per distinct word)")
    print(f"lemmas warm: {warm_s:.2f} s")
    print(f"exact tokens: {exact_s:.2f} s")


if __name__ == "__main__":
    main()
