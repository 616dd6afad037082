"""Candidate lexical lists and fusions measured offline, on the chunks the product produced.

``retrieval_eval.py`` ingests a set through the product and keeps it in ``--data-dir``; this tool reads
that library back (chunk texts, PostgreSQL's stems and their counts, the passage vectors) and builds
in-memory rankings to decide which lists are worth adding to the search statement before any SQL is
written:

* ``stems``  — BM25 over the product's snowball lexemes (reproduces the product's lexical list);
* ``exact``  — BM25 over folded, unstemmed surface forms (tomehub.library.lemmas.exact_tokens);
* ``lemma``  — BM25 over zeyrek lemmas (tomehub.library.lemmas.lemma_tokens: the analysis with the
  longest root), for Turkish chunks; ``lemma-first`` takes zeyrek's first analysis instead and
  ``lemma-all`` indexes every candidate lemma of a word;
* ``dense``  — exact cosine ranking of chunks by their best passage (the product's dense list);
* ``+prf``   — a list re-run with RM3-style expansion terms from its own top hits (no LLM);
* fusions    — weighted RRF (k=60) over lists cut at the product's depth (50).

Every figure is on the dev sets only. Run after retrieval_eval.py has built the data dir, e.g.::

    .venv/bin/python benchmarks/lists_eval.py --dataset nutuk --data-dir /tmp/eval-nutuk \\
        --text ../shared/datasets/nutuk/NUTUK_1.txt --qa ../shared/datasets/nutuk/qa-dev.json
    .venv/bin/python benchmarks/lists_eval.py --dataset scifact-dev --data-dir /tmp/eval-scifact
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import pickle
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval_eval import SCIFACT_DEV, Dataset, Query, load_beir, load_demo_en, load_nutuk, squash
from tomehub.config import Settings
from tomehub.library import lemmas
from tomehub.library.analysis import normalize
from tomehub.main import open_runtime
from tomehub.store.users import UserDirectory

K = 10
Ranking = list[int]  # chunk indexes, best first


@dataclass
class Library:
    ids: list[int]
    texts: list[str]
    titles: list[str]
    configs: list[str]
    stems: list[Counter[str]]
    stem_len: list[int]
    languages: list[str]
    passage_chunk: np.ndarray  # chunk index of each passage
    passage_vecs: np.ndarray  # unit vectors, one row per passage
    passage_texts: list[tuple[int, str]]  # (chunk index, text) of every passage, embedded or not
    qvecs: np.ndarray  # unit query vectors, one row per query
    query_stems: list[list[str]]


# ---------------------------------------------------------------- reading the product's library


async def read_library(args: argparse.Namespace, dataset: Dataset, queries: list[Query]) -> Library:
    settings = Settings(data_dir=args.data_dir)
    chunking = settings.chunking
    rt = await open_runtime(settings)
    try:
        uid = f"eval:{dataset.name}:{chunking.chunk_tokens}:{chunking.overlap_ratio}"
        user_id = await UserDirectory(rt.db).user_id(uid)
        async with rt.db.read() as conn:
            rows = await (
                await conn.execute(
                    """
                    SELECT c.id, c.text, i.title, c.ts_config::text AS cfg, c.lexeme_count,
                           ARRAY(SELECT l.lexeme FROM unnest(c.tsv) l) AS lexemes,
                           ARRAY(SELECT coalesce(array_length(l.positions, 1), 1) FROM unnest(c.tsv) l) AS tfs
                      FROM content_chunks c JOIN library_items i ON i.id = c.item_id
                     WHERE c.user_id = %s ORDER BY c.id
                    """,
                    (user_id,),
                )
            ).fetchall()
            if not rows:
                sys.exit(f"no chunks for {uid} in {args.data_dir}: run retrieval_eval.py on it first")
            index = {r["id"]: n for n, r in enumerate(rows)}
            passages = await (
                await conn.execute(
                    "SELECT chunk_id, embedding::text AS v FROM chunk_passages"
                    " WHERE user_id = %s AND embedding IS NOT NULL AND embedding_model = %s"
                    " ORDER BY chunk_id, passage_index",
                    (user_id, rt.search_embedder.model),
                )
            ).fetchall()
            texts = await (
                await conn.execute(
                    "SELECT chunk_id, text FROM chunk_passages WHERE user_id = %s ORDER BY chunk_id, passage_index",
                    (user_id,),
                )
            ).fetchall()
            stats = await (
                await conn.execute("SELECT languages FROM library_stats WHERE user_id = %s", (user_id,))
            ).fetchone()
            languages = list(stats["languages"]) if stats else ["simple"]
            query_stems = []
            for q in queries:
                lexemes: set[str] = set()
                for cfg in languages:
                    row = await (
                        await conn.execute(
                            "SELECT ARRAY(SELECT l.lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) l) AS x",
                            (cfg, normalize(q.text, "turkish" if cfg == "turkish" else "english")),
                        )
                    ).fetchone()
                    lexemes.update(row["x"] if row else [])
                query_stems.append(sorted(lexemes))
        if args.no_dense:
            passages = []
        vecs = np.array([np.fromstring(p["v"].strip("[]"), sep=",") for p in passages], dtype=np.float32)
        if len(vecs):
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        qvecs = np.zeros((0, 0)) if args.no_dense else await _query_vectors(rt, args, dataset, queries)
    finally:
        await rt.close()
    return Library(
        ids=[r["id"] for r in rows],
        texts=[r["text"] for r in rows],
        titles=[r["title"] for r in rows],
        configs=[r["cfg"] for r in rows],
        stems=[Counter(dict(zip(r["lexemes"], r["tfs"], strict=True))) for r in rows],
        stem_len=[int(r["lexeme_count"]) for r in rows],
        languages=languages,
        passage_chunk=np.array([index[p["chunk_id"]] for p in passages]),
        passage_vecs=vecs,
        passage_texts=[(index[t["chunk_id"]], t["text"]) for t in texts],
        qvecs=qvecs,
        query_stems=query_stems,
    )


async def _query_vectors(rt: object, args: argparse.Namespace, dataset: Dataset, queries: list[Query]) -> np.ndarray:
    """Query embeddings from the product's search embedder, cached beside the data dir's library."""
    embedder = rt.search_embedder  # type: ignore[attr-defined]
    cache = args.data_dir / f"lists_eval_qvecs_{dataset.name}_{embedder.model}_{len(queries)}.npy".replace("/", "_")
    if cache.exists():
        return np.load(cache)
    out = np.array([await embedder.embed_query(q.text) for q in queries], dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    np.save(cache, out)
    return out


# ---------------------------------------------------------------- BM25 in memory


class BM25:
    """Okapi BM25 with the product's parameters and OR semantics; query terms may carry weights."""

    def __init__(self, docs: Sequence[Counter[str]], lengths: Sequence[int], *, k1: float, b: float) -> None:
        self.n = len(docs)
        self.k1, self.b = k1, b
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.avgdl = max(float(self.lengths.mean()), 1.0)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for d, counts in enumerate(docs):
            for term, tf in counts.items():
                entry = postings.setdefault(term, ([], []))
                entry[0].append(d)
                entry[1].append(tf)
        self.postings = {t: (np.array(ds), np.array(tfs, dtype=np.float64)) for t, (ds, tfs) in postings.items()}
        self.docs = docs

    def df(self, term: str) -> int:
        entry = self.postings.get(term)
        return len(entry[0]) if entry else 0

    def idf(self, term: str) -> float:
        df = self.df(term)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, terms: dict[str, float]) -> np.ndarray:
        out = np.zeros(self.n)
        for term, weight in terms.items():
            entry = self.postings.get(term)
            if entry is None:
                continue
            ds, tfs = entry
            norm = self.k1 * (1.0 - self.b + self.b * self.lengths[ds] / self.avgdl)
            out[ds] += weight * self.idf(term) * tfs * (self.k1 + 1.0) / (tfs + norm)
        return out

    def rank(self, terms: dict[str, float], depth: int) -> Ranking:
        return top(self.scores(terms), depth)

    def rm3(self, terms: dict[str, float], *, fb_docs: int, fb_terms: int, orig_weight: float) -> dict[str, float]:
        """RM3: the query mixed with the relevance model of its top ``fb_docs`` hits (no LLM)."""
        scores = self.scores(terms)
        head = [d for d in top(scores, fb_docs) if scores[d] > 0]
        if not head:
            return terms
        # Document weights: the first pass's scores, softmax-free (normalised to sum 1).
        w = np.array([scores[d] for d in head])
        w /= w.sum()
        model: Counter[str] = Counter()
        for d, wd in zip(head, w, strict=True):
            total = sum(self.docs[d].values()) or 1
            for term, tf in self.docs[d].items():
                # Very common terms say nothing about this query.
                if self.df(term) <= self.n * 0.1 and not term.isdigit():
                    model[term] += wd * tf / total
        expansion = dict(model.most_common(fb_terms))
        norm = sum(expansion.values()) or 1.0
        mixed = {t: orig_weight * wt / sum(terms.values()) for t, wt in terms.items()}
        for t, wt in expansion.items():
            mixed[t] = mixed.get(t, 0.0) + (1 - orig_weight) * wt / norm
        return mixed


def top(scores: np.ndarray, depth: int) -> Ranking:
    hit = np.flatnonzero(scores > 0)
    if len(hit) > depth:
        hit = hit[np.argpartition(-scores[hit], depth)[:depth]]
    # Ties broken by chunk order, as the product breaks them by chunk id.
    return [int(d) for d in sorted(hit, key=lambda d: (-scores[d], d))]


def chunk_similarities(lib: Library, qv: np.ndarray) -> np.ndarray:
    """Each chunk's similarity to the query: its best passage's cosine (-2 for a chunk without one)."""
    best = np.full(len(lib.ids), -2.0)
    np.maximum.at(best, lib.passage_chunk, lib.passage_vecs @ qv)
    return best


def dense_rankings(lib: Library, depth: int) -> list[Ranking]:
    out = []
    for qv in lib.qvecs:
        best = chunk_similarities(lib, qv)
        order = np.argsort(-best, kind="stable")[:depth]
        out.append([int(d) for d in order if best[d] > -2.0])
    return out


def rerank(lib: Library, qv: np.ndarray, fused: Ranking, *, top_n: int, alpha: float) -> Ranking:
    """Re-scores the fused head with the dense model: min-max fused rank score blended with cosine."""
    head, tail = fused[:top_n], fused[top_n:]
    if len(head) < 2:
        return fused
    sims = chunk_similarities(lib, qv)[head]
    rank_score = 1.0 - np.arange(len(head)) / (len(head) - 1)
    span = float(sims.max() - sims.min()) or 1.0
    blended = rank_score + alpha * (sims - sims.min()) / span
    order = np.argsort(-blended, kind="stable")
    return [head[i] for i in order] + tail


def rrf(lists: Sequence[Ranking], weights: Sequence[float], *, k: int = 60, limit: int = 100) -> Ranking:
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        if weight:
            for rank, d in enumerate(ranked, start=1):
                scores[d] = scores.get(d, 0.0) + weight / (k + rank)
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


# ---------------------------------------------------------------- scoring


@dataclass
class Scores:
    recall10: float
    mrr10: float
    ndcg10: float
    recall100: float

    def cells(self) -> str:
        return f"{self.recall10:.3f} | {self.mrr10:.3f} | {self.ndcg10:.3f} | {self.recall100:.3f}"


def scorer(lib: Library, dataset: Dataset, queries: list[Query]) -> Callable[[list[Ranking]], Scores]:
    if dataset.doc_level:
        return lambda runs: _score_docs(lib, queries, runs)
    squashed = [squash(t) for t in lib.texts]
    correct = [{d for d, t in enumerate(squashed) if any(n and n in t for n in q.needles)} for q in queries]
    return lambda runs: _score_passages(correct, runs)


def _score_passages(correct: list[set[int]], runs: list[Ranking]) -> Scores:
    r10, mrr, ndcg, r100 = [], [], [], []
    for good, ranked in zip(correct, runs, strict=True):
        first = next((i for i, d in enumerate(ranked[:100], start=1) if d in good), None)
        r10.append(1.0 if first and first <= K else 0.0)
        mrr.append(1 / first if first and first <= K else 0.0)
        ndcg.append(1 / math.log2(first + 1) if first and first <= K else 0.0)
        r100.append(1.0 if first else 0.0)
    return Scores(*(statistics.fmean(x) for x in (r10, mrr, ndcg, r100)))


def _score_docs(lib: Library, queries: list[Query], runs: list[Ranking]) -> Scores:
    r10, mrr, ndcg, r100 = [], [], [], []
    for q, ranked in zip(queries, runs, strict=True):
        docs = list(dict.fromkeys(lib.titles[d] for d in ranked))
        rel = q.relevant
        r10.append(sum(d in rel for d in docs[:K]) / len(rel))
        r100.append(sum(d in rel for d in docs[:100]) / len(rel))
        first = next((i for i, d in enumerate(docs[:K], start=1) if d in rel), None)
        mrr.append(1 / first if first else 0.0)
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(docs[:K]) if d in rel)
        ndcg.append(dcg / sum(1 / math.log2(i + 2) for i in range(min(K, len(rel)))))
    return Scores(*(statistics.fmean(x) for x in (r10, mrr, ndcg, r100)))


# ---------------------------------------------------------------- the lists


def build_lists(
    lib: Library, queries: list[Query], settings: Settings, args: argparse.Namespace
) -> dict[str, list[Ranking]]:
    k1, b = settings.search.bm25_k1, settings.search.bm25_b
    deep = args.deep
    lists: dict[str, list[Ranking]] = {}
    timings: dict[str, float] = {}

    started = time.perf_counter()
    stems = BM25(lib.stems, lib.stem_len, k1=k1, b=b)
    lists["stems"] = [stems.rank(dict.fromkeys(qs, 1.0), deep) for qs in lib.query_stems]
    timings["stems"] = time.perf_counter() - started

    started = time.perf_counter()
    exact_docs = [Counter(lemmas.exact_tokens(t)) for t in lib.texts]
    exact = BM25(exact_docs, [sum(c.values()) for c in exact_docs], k1=k1, b=b)
    exact_q = [dict.fromkeys(lemmas.exact_tokens(q.text), 1.0) for q in queries]
    lists["exact"] = [exact.rank(q, deep) for q in exact_q]
    timings["exact"] = time.perf_counter() - started

    turkish = "turkish" in lib.languages
    lemma_first = lemma_all = None
    if turkish:
        started = time.perf_counter()
        first_docs = [Counter(lemmas.lemma_tokens(t, c)) for t, c in zip(lib.texts, lib.configs, strict=True)]
        timings["lemma (cold cache, all chunks)"] = time.perf_counter() - started
        lemma_first = BM25(first_docs, [sum(c.values()) for c in first_docs], k1=k1, b=b)
        lemma_q = [dict.fromkeys(lemmas.query_lemma_tokens(q.text), 1.0) for q in queries]
        lists["lemma"] = [lemma_first.rank(q, deep) for q in lemma_q]
        all_docs = [
            _all_lemmas(t) if c == "turkish" else Counter() for t, c in zip(lib.texts, lib.configs, strict=True)
        ]
        # Document length stays the word count: a word's several lemmas are one word.
        lemma_all = BM25(all_docs, [sum(c.values()) for c in first_docs], k1=k1, b=b)
        turkish_q = [bool(lemmas.query_lemma_tokens(q.text)) for q in queries]
        all_q = [
            dict.fromkeys(_all_lemmas(q.text), 1.0) if tq else {} for q, tq in zip(queries, turkish_q, strict=True)
        ]
        lists["lemma-all"] = [lemma_all.rank(q, deep) for q in all_q]
        zfirst_docs = [
            Counter(_zeyrek_first(t)) if c == "turkish" else Counter()
            for t, c in zip(lib.texts, lib.configs, strict=True)
        ]
        zfirst = BM25(zfirst_docs, [sum(c.values()) for c in zfirst_docs], k1=k1, b=b)
        lists["lemma-first"] = [
            zfirst.rank(dict.fromkeys(_zeyrek_first(q.text), 1.0) if tq else {}, deep)
            for q, tq in zip(queries, turkish_q, strict=True)
        ]

    for name, index, qterms in [
        ("stems", stems, [dict.fromkeys(qs, 1.0) for qs in lib.query_stems]),
        ("exact", exact, exact_q),
        *([("lemma", lemma_first, lemma_q)] if turkish and lemma_first else []),
    ]:
        lists[f"{name}+prf"] = [
            index.rank(index.rm3(q, fb_docs=args.prf_docs, fb_terms=args.prf_terms, orig_weight=args.prf_orig), deep)
            for q in qterms
        ]

    # Small-to-big on the lexical side: BM25 over the 128-token passages, a chunk ranked by its best one.
    owners = [c for c, _ in lib.passage_texts]
    ptexts = [t for _, t in lib.passage_texts]
    cfg_of = lib.configs
    for name, tokens, qtokens in [
        ("exact@passage", lemmas.exact_tokens, [exact_q[i] for i in range(len(queries))]),
        *(
            [("lemma@passage", None, [dict.fromkeys(lemmas.query_lemma_tokens(q.text), 1.0) for q in queries])]
            if turkish
            else []
        ),
    ]:
        docs = [
            Counter(tokens(t) if tokens else lemmas.lemma_tokens(t, cfg_of[o]))
            for t, o in zip(ptexts, owners, strict=True)
        ]
        index = BM25(docs, [sum(c.values()) for c in docs], k1=k1, b=b)
        lists[name] = [_best_owner(index.scores(q), owners, deep) for q in qtokens]

    if not args.no_dense:
        started = time.perf_counter()
        lists["dense"] = dense_rankings(lib, deep)
        timings["dense"] = time.perf_counter() - started
    if args.bm25_grid:
        # BM25's own parameters, per list (printed only; the product reads k1 and b from its config).
        score = scorer(lib, args.dataset_obj, queries)
        stem_q = [dict.fromkeys(qs, 1.0) for qs in lib.query_stems]
        for name, docs, lengths, qterms in [
            ("stems", lib.stems, lib.stem_len, stem_q),
            *([("lemma", first_docs, [sum(c.values()) for c in first_docs], lemma_q)] if turkish else []),
        ]:
            for k1_, b_ in itertools.product([0.9, 1.2, 1.6, 2.0], [0.3, 0.5, 0.75, 0.9]):
                index = BM25(docs, lengths, k1=k1_, b=b_)
                got = score([index.rank(q, deep) for q in qterms])
                print(f"  bm25 {name} k1={k1_} b={b_}: {got.cells()}", file=sys.stderr)
    for name, seconds in timings.items():
        print(f"  {name}: {seconds:.1f} s", file=sys.stderr)
    return lists


def _best_owner(scores: np.ndarray, owners: list[int], depth: int) -> Ranking:
    """Chunks ranked by their best passage's score."""
    best: dict[int, float] = {}
    for p in top(scores, depth * 4):
        best.setdefault(owners[p], float(scores[p]))
    return sorted(best, key=lambda c: (-best[c], c))[:depth]


def _zeyrek_first(text: str) -> list[str]:
    out = []
    for w in lemmas.words(text):
        found = lemmas.analyses(w)
        out.append(found[0][0] if found else lemmas.exact_tokens(w)[0])
    return out


def _all_lemmas(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for w in lemmas.words(text):
        cands = lemmas.word_lemmas(w)
        for lemma in cands:
            out[lemma] += 1
    return out


# ---------------------------------------------------------------- report


def fusion_grid(lists: dict[str, list[Ranking]], names: list[str], depth: int) -> list[tuple[float, ...]]:
    """Every weight combination of ``names`` in {0, 0.5, 1, 2, 3} with at least two lists on."""
    grid = [w for w in itertools.product([0.0, 0.5, 1.0, 2.0, 3.0], repeat=len(names)) if sum(x > 0 for x in w) >= 2]
    # Scale-free: drop combinations that are multiples of a smaller one.
    return [w for w in grid if min(x for x in w if x > 0) in (0.5, 1.0)]


def _persist_lemma_cache(path: Path) -> Callable[[], None]:
    """Re-runs read zeyrek's analyses from a file instead of analysing ~25,000 words again (~2 min)."""
    known: dict[str, tuple[tuple[str, int, int], ...]] = pickle.loads(path.read_bytes()) if path.exists() else {}
    analyse = lemmas.analyses

    def cached(word: str) -> tuple[tuple[str, int, int], ...]:
        if word not in known:
            known[word] = analyse(word)
        return known[word]

    lemmas.analyses = cached  # type: ignore[assignment]
    return lambda: path.write_bytes(pickle.dumps(known))


def run(args: argparse.Namespace, dataset: Dataset) -> str:
    save_lemmas = _persist_lemma_cache(args.data_dir / "lists_eval_zeyrek.pickle")
    queries = dataset.queries[: args.limit] if args.limit else dataset.queries
    settings = Settings(data_dir=args.data_dir)
    lib = asyncio.run(read_library(args, dataset, queries))
    print(f"  {len(lib.ids)} chunks, {len(lib.passage_chunk)} passages, languages {lib.languages}", file=sys.stderr)
    lists = build_lists(lib, queries, settings, args)
    save_lemmas()
    score = scorer(lib, dataset, queries)
    depth = settings.search.candidates_per_list
    cut = {name: [r[:depth] for r in runs] for name, runs in lists.items()}

    lines = [
        f"### {dataset.name}: {len(queries)} questions, {len(lib.ids)} chunks, lists cut at {depth} for fusion",
        "",
        "| list / fusion (RRF k=60, weights) | recall@10 | MRR@10 | nDCG@10 | recall@100 |",
        "|---|---|---|---|---|",
    ]
    for name, runs in lists.items():
        lines.append(f"| {name} | {score(runs).cells()} |")

    def fused(spec: dict[str, float]) -> list[Ranking]:
        names = list(spec)
        return [rrf([cut[n][i] for n in names], [spec[n] for n in names]) for i in range(len(queries))]

    fixed = [
        {"stems": 1, "dense": 1},
        {"stems": 2, "dense": 1},
        {"stems": 3, "dense": 1},
        {"exact": 1, "stems": 1, "dense": 1},
        {"exact": 1, "stems": 2, "dense": 1},
    ]
    if "lemma" in lists:
        fixed += [
            {"lemma": 1, "dense": 1},
            {"lemma": 2, "dense": 1},
            {"lemma": 1, "stems": 1, "dense": 1},
            {"exact": 1, "lemma": 1, "dense": 1},
            {"exact": 1, "lemma": 1, "stems": 1, "dense": 1},
            {"exact": 1, "lemma": 2, "stems": 1, "dense": 1},
        ]
    lexical_fusions = [
        {"exact": 1, "stems": 1},
        {"exact": 1, "stems": 2},
        {"exact": 1, "lemma": 1},
        {"lemma@passage": 1, "lemma": 1},
        {"lemma@passage": 1, "dense": 1},
        {"lemma@passage": 1, "lemma": 1, "stems": 1, "dense": 1},
        {"exact@passage": 1, "lemma@passage": 1, "lemma": 1, "stems": 1, "dense": 1},
        {"exact@passage": 1, "stems": 1, "dense": 1},
        {"exact@passage": 1, "exact": 1, "stems": 2, "dense": 1},
    ]
    for spec in fixed + lexical_fusions:
        if any(n not in lists for n in spec):
            continue
        label = " + ".join(f"{n} {w:g}" for n, w in spec.items())
        lines.append(f"| RRF {label} | {score(fused(spec)).cells()} |")

    if args.grid:
        names = [n for n in args.grid.split(",") if n in lists]
        key = "ndcg10" if dataset.doc_level else "recall10"
        results = []
        for weights in fusion_grid(lists, names, depth):
            spec = {n: w for n, w in zip(names, weights, strict=True) if w}
            results.append((getattr(score(fused(spec)), key), spec))
        results.sort(key=lambda r: -r[0])
        lines += ["", f"Best {min(8, len(results))} of {len(results)} weightings of {names} by {key}:", ""]
        for value, spec in results[:8]:
            lines.append(f"- {value:.3f}: " + ", ".join(f"{n} {w:g}" for n, w in spec.items()))
    if args.rerank and "dense" in lists:
        spec = {n: float(w) for n, w in (part.split(":") for part in args.rerank.split(","))}
        base = fused(spec)
        label = " + ".join(f"{n} {w:g}" for n, w in spec.items())
        lines += ["", f"Dense re-scoring of the top of RRF {label}:", ""]
        for top_n, alpha in [(20, 0.5), (20, 1.0), (30, 0.5), (30, 1.0), (50, 1.0)]:
            runs = [rerank(lib, lib.qvecs[i], base[i], top_n=top_n, alpha=alpha) for i in range(len(queries))]
            lines.append(f"- top {top_n}, alpha {alpha:g}: {score(runs).cells()}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["nutuk", "demo-en", "scifact-dev"], required=True)
    parser.add_argument("--text", type=Path)
    parser.add_argument("--qa", type=Path)
    parser.add_argument("--beir", type=Path, default=SCIFACT_DEV)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--deep", type=int, default=300, help="depth of each list before cutting (recall@100)")
    parser.add_argument("--prf-docs", type=int, default=5)
    parser.add_argument("--prf-terms", type=int, default=10)
    parser.add_argument("--prf-orig", type=float, default=0.7, help="RM3: weight kept by the original query")
    parser.add_argument("--no-dense", action="store_true", help="lexical lists only (e.g. a hashed-embedder library)")
    parser.add_argument("--rerank", default="", help="fusion to re-score with the dense model, e.g. stems:2,dense:1")
    parser.add_argument("--bm25-grid", action="store_true", help="print the stems and lemma lists at other k1, b")
    parser.add_argument("--grid", default="", help="comma-separated lists whose RRF weights to search")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.dataset == "nutuk":
        if not (args.text and args.qa):
            parser.error("nutuk needs --text and --qa")
        dataset = load_nutuk(args.text, args.qa)
    elif args.dataset == "demo-en":
        dataset = load_demo_en(args.qa or Path(__file__).parent / "datasets" / "demo-en" / "qa.json")
    else:
        dataset = load_beir(args.beir, "test", name="scifact-dev")
    args.dataset_obj = dataset
    report = run(args, dataset) + f"\n\nCommand: `benchmarks/lists_eval.py {' '.join(sys.argv[1:])}`\n"
    print(report)
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(report + "\n")


if __name__ == "__main__":
    main()
