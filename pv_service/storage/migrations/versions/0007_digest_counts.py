"""the digest's counts, kept as cases are written; each case's local week of receipt

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:00:00

Existing cases get their week (the local Monday of their receipt, in the zone of ``PV_TIME_ZONE``) one
UPDATE per week, and the counts are computed from them in one grouped INSERT.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

from pv_service.config import Settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the tables stood at this revision.
SET_ASIDE = ("duplicate", "nullified")
cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("patient_id", sa.Integer()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("received_week", sa.Date()),
    sa.column("state", sa.String()),
    sa.column("product", sa.String()),
)
patients = sa.table("patients", sa.column("id", sa.Integer()), sa.column("indication", sa.String()))
case_reactions = sa.table("case_reactions", sa.column("case_id", sa.Integer()), sa.column("code", sa.String()))
digest_counts = sa.table(
    "digest_counts",
    sa.column("week", sa.Date()),
    sa.column("product", sa.String()),
    sa.column("indication", sa.String()),
    sa.column("code", sa.String()),
    sa.column("n", sa.Integer()),
)


def _weeks_of_receipt(connection: sa.Connection) -> None:
    """Each local week between the first and the last receipt, one range UPDATE (the index on received_at)."""
    zone = Settings.from_env().zone
    first, last = connection.execute(
        sa.select(sa.func.min(cases.c.received_at), sa.func.max(cases.c.received_at))
    ).one()
    if first is None:
        return
    sqlite = connection.dialect.name == "sqlite"

    def bound(day: date) -> datetime:
        utc = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        return utc.replace(tzinfo=None) if sqlite else utc

    def local_day(moment: datetime) -> date:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone).date()

    monday = local_day(first) - timedelta(days=local_day(first).weekday())
    while monday <= local_day(last):
        following = monday + timedelta(weeks=1)
        connection.execute(
            cases.update()
            .where(cases.c.received_at >= bound(monday), cases.c.received_at < bound(following))
            .values(received_week=monday)
        )
        monday = following


def _counts() -> sa.Select:
    """What every case of the digest's population adds: the case (code ''), and each distinct code of it."""
    counted = cases.c.state.not_in(SET_ASIDE)
    keys = [cases.c.received_week, cases.c.product, patients.c.indication]
    per_case = (
        sa.select(*keys, sa.literal(""), sa.func.count())
        .join_from(cases, patients, patients.c.id == cases.c.patient_id)
        .where(counted)
        .group_by(*keys)
    )
    pairs = sa.select(case_reactions.c.case_id, case_reactions.c.code).where(case_reactions.c.code.is_not(None))
    coded = pairs.distinct().subquery()
    per_code = (
        sa.select(*keys, coded.c.code, sa.func.count())
        .select_from(coded)
        .join(cases, cases.c.id == coded.c.case_id)
        .join(patients, patients.c.id == cases.c.patient_id)
        .where(counted)
        .group_by(*keys, coded.c.code)
    )
    return sa.select(*sa.union_all(per_case, per_code).subquery().c)


def upgrade() -> None:
    op.create_table(
        "digest_counts",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("indication", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "product", "indication", "code", name=op.f("pk_digest_counts")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        # Nullable: SQLite would rebuild the table to add a NOT NULL column, and cases are referred to.
        batch_op.add_column(sa.Column("received_week", sa.Date(), nullable=True))
    connection = op.get_bind()
    _weeks_of_receipt(connection)
    connection.execute(digest_counts.insert().from_select(["week", "product", "indication", "code", "n"], _counts()))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("received_week")
    op.drop_table("digest_counts")
