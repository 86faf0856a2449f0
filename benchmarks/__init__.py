"""Benchmarks: training and inference throughput across runtimes, with roofline figures.

Every script writes rows with the same keys (:data:`benchmarks.common.ROW_KEYS`)
to CSV and JSON, plus a PNG; run them as ``python benchmarks/<script>.py`` or
``aezoo bench train|infer|peak``.
"""
