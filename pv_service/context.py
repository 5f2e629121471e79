"""What every handler and job of one instance works with, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from pv_service.config import Settings
from pv_service.reference import ReferenceData
from pv_service.storage.database import Database


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    database: Database
    reference: ReferenceData
