"""The tables: users and tokens, the registry mirror, and the audit log.

Registry records keep the registry's own ids; patients get a surrogate key so that retention can
replace their registry id without touching the rows that point at them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; BigInteger keeps room on PostgreSQL.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both engines (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A professional with an RPPS and one role; registry professionals are users too."""

    __tablename__ = "users"

    rpps: Mapped[str] = mapped_column(String(11), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    structure: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_rpps: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    registry_id: Mapped[str] = mapped_column(String(64), unique=True)
    birth_year: Mapped[int] = mapped_column(Integer)
    # Set by retention in place of birth_year: the first year of a 5-year band.
    birth_year_band: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(1))
    indication: Mapped[str] = mapped_column(String(64))
    reference_structure: Mapped[str | None] = mapped_column(String(500))
    inclusion_date: Mapped[date] = mapped_column(Date)
    reference_prescriber: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    city_doctor: Mapped[str | None] = mapped_column(ForeignKey("users.rpps"), index=True)
    pharmacist: Mapped[str | None] = mapped_column(ForeignKey("users.rpps"), index=True)
    registry_consent: Mapped[bool] = mapped_column(Boolean)
    nir_consent: Mapped[bool] = mapped_column(Boolean)
    legal_status: Mapped[str] = mapped_column(String(16))

    withdrawal: Mapped[Withdrawal | None] = relationship(back_populates="patient", lazy="selectin")


class Prescription(Base):
    __tablename__ = "prescriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    prescriber: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    product: Mapped[str] = mapped_column(String(64))
    daily_thc_mg: Mapped[float] = mapped_column(Float)
    daily_cbd_mg: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    secure: Mapped[bool] = mapped_column(Boolean)
    weaning: Mapped[bool] = mapped_column(Boolean)


class Dispensation(Base):
    __tablename__ = "dispensations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prescription_id: Mapped[str] = mapped_column(ForeignKey("prescriptions.id"), index=True)
    # Denormalised from the prescription: reach and cross-checks filter dispensations by patient.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    pharmacist: Mapped[str] = mapped_column(ForeignKey("users.rpps"))
    date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[float] = mapped_column(Float)
    days_supply: Mapped[int] = mapped_column(Integer)
    weaning: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_dispensations_pharmacist_patient", "pharmacist", "patient_id"),)


class TitrationStep(Base):
    __tablename__ = "titration_steps"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    date: Mapped[date] = mapped_column(Date)
    daily_thc_mg: Mapped[float] = mapped_column(Float)
    daily_cbd_mg: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("patient_id", "date"),)


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    month: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("patient_id", "date", "kind"),)


class Withdrawal(Base):
    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), unique=True)
    date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))

    patient: Mapped[Patient] = relationship(back_populates="withdrawal")


class AuditEntry(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "id"),)
