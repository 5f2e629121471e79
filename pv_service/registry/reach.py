"""Whose patients a caller may see: "their patients" of SPEC §1, as one SQL condition."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true

from pv_service.storage.models import Dispensation, Patient
from pv_service.users import Caller


def patients_within_reach(caller: Caller) -> ColumnElement[bool]:
    """A prescriber's patients are those they refer or follow as city doctor; a pharmacist's, those
    naming them or to whom they have dispensed. PV staff and the operator see the whole mirror."""
    if caller.role == "prescriber":
        return or_(Patient.reference_prescriber == caller.rpps, Patient.city_doctor == caller.rpps)
    if caller.role == "pharmacist":
        dispensed = exists(
            select(Dispensation.id).where(Dispensation.patient_id == Patient.id, Dispensation.pharmacist == caller.rpps)
        )
        return or_(Patient.pharmacist == caller.rpps, dispensed)
    if caller.role in ("pv_staff", "admin"):
        return true()
    return false()
