"""The one error type sources raise, carrying a title a person can read."""

from __future__ import annotations


class SourceError(Exception):
    """A source failed. `title` goes on screen as is, so it must never hold a secret.

    `retryable` says whether trying again soon may help (a timeout, a 503);
    `final` marks errors no retry can fix (a rejected API key), which the
    status line says in those words.
    """

    def __init__(self, title: str, *, retryable: bool = False, final: bool = False) -> None:
        super().__init__(title)
        self.title = title
        self.retryable = retryable
        self.final = final

    def __str__(self) -> str:
        return self.title
