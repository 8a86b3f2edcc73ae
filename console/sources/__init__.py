"""Adapters to outside systems: I/O only, model objects out, SourceError on failure."""

from console.sources.base import SourceError

__all__ = ["SourceError"]
