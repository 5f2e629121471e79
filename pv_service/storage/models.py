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
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    and_,
    literal,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from pv_service.rules.workflow import SET_ASIDE, is_overdue

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


class ClientText(TypeDecorator[str]):
    """Every text column: what a client wrote is compared and stored alike on both engines. PostgreSQL's text
    cannot hold U+0000, so each one is bound as U+FFFD (the replacement character) — a reaction's text keeps
    its place (the version keeps the text as received), a name from an import is stored, and a registry id
    holding one names no patient (the registry's ids cannot)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.replace("\x00", "\ufffd")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A professional with an RPPS and one role; registry professionals are users too."""

    __tablename__ = "users"

    rpps: Mapped[str] = mapped_column(ClientText(11), primary_key=True)
    role: Mapped[str] = mapped_column(ClientText(16))
    name: Mapped[str] = mapped_column(ClientText(200))
    structure: Mapped[str | None] = mapped_column(ClientText(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(ClientText(40), primary_key=True)
    user_rpps: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    token_hash: Mapped[str] = mapped_column(ClientText(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    registry_id: Mapped[str] = mapped_column(ClientText(64), unique=True)
    # Retention replaces it by the first year of a 5-year band.
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_year_band: Mapped[int | None] = mapped_column(Integer)
    pseudonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sex: Mapped[str] = mapped_column(ClientText(1))
    indication: Mapped[str] = mapped_column(ClientText(64))
    reference_structure: Mapped[str | None] = mapped_column(ClientText(500))
    inclusion_date: Mapped[date] = mapped_column(Date)
    reference_prescriber: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    city_doctor: Mapped[str | None] = mapped_column(ForeignKey("users.rpps"), index=True)
    pharmacist: Mapped[str | None] = mapped_column(ForeignKey("users.rpps"), index=True)
    registry_consent: Mapped[bool] = mapped_column(Boolean)
    nir_consent: Mapped[bool] = mapped_column(Boolean)
    legal_status: Mapped[str] = mapped_column(ClientText(16))

    withdrawal: Mapped[Withdrawal | None] = relationship(back_populates="patient", lazy="joined")


class Prescription(Base):
    __tablename__ = "prescriptions"

    id: Mapped[str] = mapped_column(ClientText(64), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    prescriber: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    product: Mapped[str] = mapped_column(ClientText(64))
    daily_thc_mg: Mapped[float] = mapped_column(Float)
    daily_cbd_mg: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    secure: Mapped[bool] = mapped_column(Boolean)
    weaning: Mapped[bool] = mapped_column(Boolean)


class Dispensation(Base):
    __tablename__ = "dispensations"

    id: Mapped[str] = mapped_column(ClientText(64), primary_key=True)
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
    kind: Mapped[str] = mapped_column(ClientText(16))
    month: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("patient_id", "date", "kind"),)


class Withdrawal(Base):
    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), unique=True)
    date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(ClientText(500))

    patient: Mapped[Patient] = relationship(back_populates="withdrawal")


class AuditEntry(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(ClientText(32))
    action: Mapped[str] = mapped_column(ClientText(64))
    entity: Mapped[str] = mapped_column(ClientText(32))
    entity_id: Mapped[str] = mapped_column(ClientText(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "id"),)


class Case(Base):
    """An adverse-event case: the latest assessment of its current version, plus triage state."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(ClientText(32), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    reporter_rpps: Mapped[str] = mapped_column(ForeignKey("users.rpps"), index=True)
    reporter_role: Mapped[str] = mapped_column(ClientText(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The local Monday (settings' zone) of the week of receipt: the week the digest's counts file it under.
    # Set on every case; nullable only because SQLite cannot add a NOT NULL column to a table others refer to.
    received_week: Mapped[date | None] = mapped_column(Date)
    # Receipt of the version that first made the case serious: the due dates count from it.
    serious_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(ClientText(24))
    serious: Mapped[bool] = mapped_column(Boolean)
    expected: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[str] = mapped_column(ClientText(2))
    criteria: Mapped[list[str]] = mapped_column(JSON)
    suggested_criteria: Mapped[list[str]] = mapped_column(JSON)
    triage_due: Mapped[datetime] = mapped_column(UtcDateTime())
    forward_due: Mapped[datetime] = mapped_column(UtcDateTime())
    completeness: Mapped[float] = mapped_column(Float)
    missing: Mapped[list[str]] = mapped_column(JSON)
    warnings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    product: Mapped[str] = mapped_column(ClientText(64), index=True)
    daily_thc_mg: Mapped[float | None] = mapped_column(Float)
    daily_cbd_mg: Mapped[float | None] = mapped_column(Float)
    special_situations: Mapped[list[str]] = mapped_column(JSON)
    assignee: Mapped[str | None] = mapped_column(ForeignKey("users.rpps"))
    forwarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    forward_destination: Mapped[str | None] = mapped_column(ClientText(8))
    forward_reference: Mapped[str | None] = mapped_column(ClientText(100))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    nullification_reason: Mapped[str | None] = mapped_column(ClientText(500))

    # The queue's order, with the state so that filtering on it needs no row lookup; the digest's one pass
    # (received before a week's end, every column it groups and counts by), which reads no row either.
    __table_args__ = (
        Index("ix_cases_queue", "priority", "triage_due", "received_at", "id", "state"),
        Index(
            "ix_cases_digest", "received_at", "state", "product", "patient_id", "priority", "serious",
            "forward_due", "forwarded_at", "triage_due",
        ),
    )  # fmt: skip

    @hybrid_method
    def overdue_at(self, at: datetime) -> bool:
        """``rules.workflow.is_overdue`` for this case; in a query, the same rule as SQL."""
        return is_overdue(
            state=self.state,
            forwarded_at=self.forwarded_at,
            forward_due=self.forward_due,
            triage_due=self.triage_due,
            at=at,
        )

    @overdue_at.inplace.expression
    @classmethod
    def _overdue_at_expression(cls, at: datetime) -> ColumnElement[bool]:
        not_forwarded = or_(cls.forwarded_at.is_(None), cls.forwarded_at > at)
        return and_(
            cls.state.not_in(SET_ASIDE),
            or_(and_(not_forwarded, cls.forward_due < at), and_(cls.state == "received", cls.triage_due < at)),
        )


# The cases that may be overdue at an instant whenever they were forwarded: those not forwarded, and those
# still received (their triage due date counts). Any other case can be overdue at an instant only if
# forwarded after it. A query states this very condition to read ``ix_cases_unforwarded``; its value is
# written in the SQL, as in the index's, so that the planners match the two.
UNFORWARDED_OR_RECEIVED = or_(Case.forwarded_at.is_(None), Case.state == literal("received", literal_execute=True))
# What ``Case.overdue_at`` reads besides forwarded_at, received_at first so that a count for a past instant
# reads the cases received before it only. The overdue count reads these two indexes and no row.
OVERDUE_COLUMNS = (Case.received_at, Case.state, Case.forward_due, Case.triage_due)
# Without the cases set aside, as ``Case.overdue_at`` states first: SQLite then skips that term of the rule
# for the index's rows, when the query writes its values in the SQL too.
_UNFORWARDED_COUNTED = and_(UNFORWARDED_OR_RECEIVED, Case.state.not_in(SET_ASIDE))
Index(
    "ix_cases_unforwarded", *OVERDUE_COLUMNS, Case.forwarded_at,
    sqlite_where=_UNFORWARDED_COUNTED, postgresql_where=_UNFORWARDED_COUNTED,
)  # fmt: skip
Index("ix_cases_forwarded", Case.forwarded_at, *OVERDUE_COLUMNS)


class CaseVersion(Base):
    """Every version of a report, kept whole as received."""

    __tablename__ = "case_versions"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reporter_rpps: Mapped[str] = mapped_column(ForeignKey("users.rpps"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("case_id", "version"),)


class CaseReaction(Base):
    """A reaction of a case's current version, with what triage adds to it; the grouped counts read here."""

    __tablename__ = "case_reactions"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(ClientText(2000))
    code: Mapped[str | None] = mapped_column(ClientText(64), index=True)
    onset_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(ClientText(32))
    criteria: Mapped[list[str]] = mapped_column(JSON)
    expected: Mapped[bool] = mapped_column(Boolean)
    # Set by PV staff: they outlast follow-ups.
    staff_criteria: Mapped[list[str] | None] = mapped_column(JSON)
    who_umc: Mapped[str | None] = mapped_column(ClientText(16))
    chronology: Mapped[str | None] = mapped_column(ClientText(2))
    semiology: Mapped[str | None] = mapped_column(ClientText(2))
    intrinsic_score: Mapped[str | None] = mapped_column(ClientText(2))

    # The digest reads a case's codes from the index alone.
    __table_args__ = (UniqueConstraint("case_id", "position"), Index("ix_case_reactions_case_code", "case_id", "code"))


class CaseLink(Base):
    """A possible duplicate, linked both ways for PV staff to confirm."""

    __tablename__ = "case_links"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)


class CaseCounter(Base):
    """The last case number given in a year (Europe/Paris)."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    """A caller's ``Idempotency-Key`` and the 201 answer it got, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"

    user_rpps: Mapped[str] = mapped_column(ForeignKey("users.rpps"), primary_key=True)
    key: Mapped[str] = mapped_column(ClientText(200), primary_key=True)
    body_hash: Mapped[str] = mapped_column(ClientText(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(ClientText(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FollowUpRequest(Base):
    """A question PV staff put to the reporter; answered by the next version the reporter sends."""

    __tablename__ = "follow_up_requests"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(ForeignKey("users.rpps"))
    message: Mapped[str] = mapped_column(ClientText(2000))
    reply_by: Mapped[date] = mapped_column(Date)
    answered_version: Mapped[int | None] = mapped_column(Integer)


class JobClaim(Base):
    """The one row that makes a job's period run once across instances sharing the database."""

    __tablename__ = "job_claims"

    job: Mapped[str] = mapped_column(ClientText(40), primary_key=True)
    period: Mapped[str] = mapped_column(ClientText(16), primary_key=True)
    status: Mapped[str] = mapped_column(ClientText(12))
    run_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer)


class JobRun(Base):
    """Every run of a job, as it went."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(ClientText(40))
    period: Mapped[str] = mapped_column(ClientText(16))
    status: Mapped[str] = mapped_column(ClientText(12))
    trigger: Mapped[str] = mapped_column(ClientText(12))
    instance: Mapped[str] = mapped_column(ClientText(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(ClientText(2000))

    __table_args__ = (Index("ix_job_runs_job_id", "job", "id"),)


class Anomaly(Base):
    """A cross-check finding, stored once under its stable key."""

    __tablename__ = "anomalies"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(ClientText(400), unique=True)
    kind: Mapped[str] = mapped_column(ClientText(40), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    records: Mapped[list[str]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    job_run_id: Mapped[int] = mapped_column(ForeignKey("job_runs.id"))


class AnomalyCase(Base):
    __tablename__ = "anomaly_cases"

    anomaly_id: Mapped[int] = mapped_column(ForeignKey("anomalies.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)


class Digest(Base):
    """A weekly signal digest, stored as produced."""

    __tablename__ = "digests"

    week: Mapped[str] = mapped_column(ClientText(8), primary_key=True)
    produced_at: Mapped[datetime] = mapped_column(UtcDateTime())
    job_run_id: Mapped[int] = mapped_column(ForeignKey("job_runs.id"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class DigestCount(Base):
    """The digest's counts, kept as cases are written (``pv_service.digests.counts``): cases of the digest's
    population by local week of receipt, suspect product and patient's indication (code ''), and distinct
    case × code pairs (one row per code)."""

    __tablename__ = "digest_counts"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    product: Mapped[str] = mapped_column(ClientText(64), primary_key=True)
    indication: Mapped[str] = mapped_column(ClientText(64), primary_key=True)
    code: Mapped[str] = mapped_column(ClientText(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ServiceMarker(Base):
    """Moments the service remembers, such as the scheduler's first start."""

    __tablename__ = "service_markers"

    name: Mapped[str] = mapped_column(ClientText(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
