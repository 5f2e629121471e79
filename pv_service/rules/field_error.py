"""The one shape every rule reports a problem in: a field path, a stable code and a sentence."""

from __future__ import annotations

from dataclasses import dataclass

from pv_service.rules.text import Text


@dataclass(frozen=True, slots=True)
class FieldError:
    """``message`` is a ``Text`` the answering boundary translates (or a fixed string); ``field`` and ``code``
    never change with the language."""

    field: str
    code: str
    message: Text | str
