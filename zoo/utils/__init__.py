"""Utilities with no knowledge of models: argument checks, input conversion, file integrity,
the run environment, timing, progress bars and shared command-line options."""
