"""Helpers of ``benchmarks/search_bench.py``: corpus generation, loading, latency runs, the API server
process and the report."""
