"""Data shipped in ``schemas/``: products, indications, reactions, titration protocol, the reporting-aid form.

The checkout's top-level ``schemas/`` folder is installed as the package ``pv_service.schemas``, so an
installed service finds it wherever it runs; ``PV_SCHEMAS_DIR`` points at another copy. Loaded once at start
and shared read-only; the files are served as they are.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import msgspec

from pv_service.rules.crosschecks import TitrationProtocol
from pv_service.rules.doses import ProductContent, RatioClass
from pv_service.rules.seriousness import Term

REFERENCE_DOCUMENTS = ("products", "indications", "reactions", "titration-protocol")


class Product(msgspec.Struct, frozen=True):
    code: str
    form: Literal["oil", "flower"]
    ratio: RatioClass
    thc: float
    cbd: float
    unit: str
    thc_percent: float

    @property
    def content(self) -> ProductContent:
        """What the dose rules need of the product."""
        return ProductContent(self.form, self.thc, self.cbd, self.ratio)


class Indication(msgspec.Struct, frozen=True):
    code: str
    en: str
    fr: str


class Reaction(msgspec.Struct, frozen=True):
    code: str
    en: str
    fr: str
    soc: str
    expected: bool | dict[str, bool]
    important_medical_event: bool


class _Products(msgspec.Struct):
    products: list[Product]


class _Indications(msgspec.Struct):
    indications: list[Indication]


class _Reactions(msgspec.Struct):
    reactions: list[Reaction]


class ReferenceData(msgspec.Struct, frozen=True):
    """The catalogue, indexed by code, plus the raw documents as shipped."""

    products: dict[str, Product]
    indications: dict[str, Indication]
    reactions: dict[str, Reaction]
    titration_protocol: TitrationProtocol
    documents: dict[str, bytes]
    # The reactions as the seriousness rules read them, built once at load rather than per report.
    terms: dict[str, Term]


def schemas_root(schemas_dir: Path | None) -> Traversable:
    """The folder of the reference data and the form: ``schemas_dir`` when set (``Settings.schemas_dir``,
    from ``PV_SCHEMAS_DIR``), else the copy shipped in the package."""
    if schemas_dir is not None:
        return schemas_dir
    return resources.files("pv_service.schemas")


def load_reference(schemas_dir: Path | None) -> ReferenceData:
    """The documents of ``schemas_root(schemas_dir)``, decoded and checked against their types."""
    root = schemas_root(schemas_dir)
    folder = root / "reference"
    files = {
        "products": folder / "products.json",
        "indications": folder / "indications.json",
        "reactions": folder / "reactions.json",
        "titration-protocol": folder / "titration_protocol.json",
        "form": root / "forms" / "adverse_event.json",
    }
    documents = {name: path.read_bytes() for name, path in files.items()}
    products = msgspec.json.decode(documents["products"], type=_Products).products
    indications = msgspec.json.decode(documents["indications"], type=_Indications).indications
    reactions = msgspec.json.decode(documents["reactions"], type=_Reactions).reactions
    protocol = msgspec.json.decode(documents["titration-protocol"], type=TitrationProtocol)
    return ReferenceData(
        products={p.code: p for p in products},
        indications={i.code: i for i in indications},
        reactions={r.code: r for r in reactions},
        titration_protocol=protocol,
        documents=documents,
        terms={r.code: Term(r.expected, r.important_medical_event) for r in reactions},
    )
