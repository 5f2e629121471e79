"""Translations: gettext catalogs under ``pv_service/locale``, read from their ``.po`` files on first use.

The English text is the message id, so English needs no catalog. Catalogs are compiled in memory on first
use, so a checkout or an installed wheel works without a build step.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import replace
from functools import cache
from importlib import resources

from babel.core import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, parse_pattern
from babel.support import Translations

from pv_service.rules.text import Text

LANGUAGES = ("fr", "en")
DOMAIN = "messages"


@cache
def catalog(language: str) -> gettext.NullTranslations:
    """The translations of ``language``: every ``.po`` of its folder, one per part of the service, merged.

    English, and a language without a catalog, read the message ids.
    """
    folder = resources.files("pv_service.locale").joinpath(language, "LC_MESSAGES")
    if language == "en" or not folder.is_dir():
        return gettext.NullTranslations()
    merged = Catalog(locale=language, domain=DOMAIN)
    for po in sorted((item for item in folder.iterdir() if item.name.endswith(".po")), key=lambda item: item.name):
        with po.open("rb") as source:
            read = read_po(source, locale=language, domain=DOMAIN)
        # The catalogs' own plural rule, not Babel's for the locale (French: 2 forms, as the .po say).
        merged.mime_headers = [("Plural-Forms", read.plural_forms)]
        for message in read:
            if message.id:
                merged[message.id] = message
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def translate(text: Text | str, language: str) -> str:
    """``text`` in ``language``: a plain string is a message id, a ``Text`` a template whose values are put
    in translated too (a ``Text`` value) and with decimals written as the language writes them (0,3 in French)."""
    if isinstance(text, str):
        return catalog(language).gettext(text) if text else text  # gettext("") is the catalog's header
    values = {name: _value_in(value, language) for name, value in text.values.items()}
    return replace(text, values=values).format(catalog(language).gettext(text.template))


def _value_in(value: object, language: str) -> object:
    if isinstance(value, Text):
        return translate(value, language)
    if isinstance(value, float):
        locale, pattern = _decimals(language)
        return pattern.apply(value, locale)
    return value


@cache
def _decimals(language: str) -> tuple[Locale, NumberPattern]:
    """The locale and the pattern decimals are written with, parsed once (every stored warning has some)."""
    return Locale.parse(language), parse_pattern("0.###")


def preferred_language(accept_language: str | None, default: str) -> str:
    """The language of ``LANGUAGES`` an ``Accept-Language`` header weighs most (first wins a tie), else ``default``."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, parameters = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES:
            ranked.append((_weight(parameters), -position, language))
    best = max(ranked, default=None)
    return best[2] if best is not None and best[0] > 0 else default


def _weight(parameters: str) -> float:
    name, _, value = parameters.strip().partition("=")
    if name.strip() != "q":
        return 1.0
    try:
        weight = float(value)
    except ValueError:
        return 0.0
    return weight if 0.0 <= weight <= 1.0 else 0.0
