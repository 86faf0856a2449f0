"""The export formats: one module each, imported (and so registered) when ``export`` is.

Adding a format is adding a module here that defines an
:class:`export.registry.ExportFormat` subclass decorated with
:func:`export.registry.register_format`; the CLI, ``load_artifact``, the
benchmarks and the quickstart pick it up from the registry.
"""
