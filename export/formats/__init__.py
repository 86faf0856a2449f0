"""The export formats: one module each, imported (and so registered) when ``export`` is.

To add a format, add one module here (nothing else needs an edit):

1. Subclass :class:`export.registry.ExportFormat` and set ``name``, ``title``,
   ``artifact`` (its name inside an export folder), ``suffix`` (``".ext"`` for a
   single-file artifact, None for a folder), ``label`` (the benchmarks'
   runtime name) and ``order``; optionally ``quantize_options`` (each with its
   description, default ``mse_rtol`` and whether it is calibrated),
   ``featured_quantize`` (variants benchmarked and shown in the quickstart) and
   ``options`` (extra ``write`` keywords, each becoming a ``--flag`` of ``aezoo export``).
2. Implement ``write`` (embed the metadata), ``load`` (a :class:`~export.registry.Runner`
   in the format's own runtime) and ``read_metadata``; override ``matches`` if
   its artifacts are not recognised by their suffix alone.
3. Decorate the class with :func:`export.registry.register_format`.

``aezoo export --format``/``--quantize``, ``aezoo encode --runtime``,
``load_artifact``, ``export.runtime_variants()`` (the benchmarks) and the
quickstart then offer it, and ``tests/test_export.py`` exports every family with it.
"""
