"""Benchmarks: training and inference throughput across runtimes, with roofline figures.

Every script writes rows with the same keys (:data:`benchmarks.common.ROW_KEYS`)
to CSV and JSON, plus a PNG. Run them from the repository root as
``python -m benchmarks.<script>`` or through ``aezoo bench train|infer|peak``
(the same options); ``python -m benchmarks.report --update-docs`` turns the
committed results into ``docs/benchmarks.md``.
"""
