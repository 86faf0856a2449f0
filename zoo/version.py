"""The version of aezoo (one place; packaging metadata and cards read it)."""

__version__ = "0.1.0"
