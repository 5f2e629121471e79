"""Every string of the pages has its French translation, with the same placeholders (SPEC §15: gettext)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

TEMPLATES = Path(resources.files("pv_service") / "templates")  # type: ignore[arg-type]
FRENCH = Path(resources.files("pv_service.locale") / "fr" / "LC_MESSAGES")  # type: ignore[arg-type]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")


def template_messages() -> list[tuple[str, int, str]]:
    found = extract_from_dir(
        TEMPLATES,
        method_map=[("pages/**.html", "jinja2")],
        options_map={"pages/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}},
    )
    return [(name, line, message if isinstance(message, str) else message[0]) for name, line, message, *_ in found]


def french() -> dict[str, str]:
    entries: dict[str, str] = {}
    for po in sorted(FRENCH.glob("*.po")):
        with po.open("rb") as source:
            entries |= {m.id: m.string for m in read_po(source, locale="fr") if m.id and isinstance(m.id, str)}
    return entries


def test_the_pages_have_strings_to_translate() -> None:
    assert len(template_messages()) > 10


@pytest.mark.parametrize(("name", "line", "message"), template_messages())
def test_each_page_string_has_a_french_translation(name: str, line: int, message: str) -> None:
    translated = french().get(message)
    assert translated, f"{name}:{line}: no French for {message!r}"
    assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), (name, line)
