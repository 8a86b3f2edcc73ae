"""mailops: a terminal operations console for email deliverability."""

__version__ = "0.1.0"
