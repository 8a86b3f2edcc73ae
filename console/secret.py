"""A wrapper that keeps secrets out of reprs, logs, tracebacks and the screen."""

from __future__ import annotations


class Secret:
    """Holds a secret string; every textual form of it is masked.

    The value is reachable only through `reveal()`, so leaking it takes a
    deliberate call that a reviewer can grep for.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """Mask the secret wherever it occurs in `text` (e.g. a server's error message)."""
        if self._value and self._value in text:
            return text.replace(self._value, "***")
        return text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
