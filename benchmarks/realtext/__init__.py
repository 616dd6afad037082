"""Helpers of ``benchmarks/realtext_bench.py``: the SciFact library, CPU meters, search clients."""
