"""Export errors: a converter that rejects the model is one line naming the converter and the first line of its reason."""

from __future__ import annotations

from ..errors import UserError


class ConverterError(UserError):
    """A converter rejected the model or an op in it."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), or its type name."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
