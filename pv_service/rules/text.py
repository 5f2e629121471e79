"""A sentence to translate late: rules say what to tell, the boundary that answers says it in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Text:
    """An English template (the gettext message id) and the values its ``{name}`` fields name."""

    template: str
    values: Mapping[str, object] = field(default_factory=dict)

    def format(self, template: str) -> str:
        """``template`` (this text or its translation) with the values put in."""
        return template.format(**self.values) if self.values else template

    def __str__(self) -> str:
        return self.format(self.template)
