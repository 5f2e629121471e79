"""the digest's all-time counts; indexes for the overdue count

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:30:00

The all-time rows (week 1900-01-01) are the week rows summed, one grouped INSERT. The overdue count reads
the cases not forwarded or still received, neither duplicate nor nullified (a partial index), and those
forwarded after its instant (an index on forwarded_at).
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As they stood at this revision.
ALL_TIME = date(1900, 1, 1)
OVERDUE_COLUMNS = ["received_at", "state", "forward_due", "triage_due"]
UNFORWARDED_COUNTED = "(forwarded_at IS NULL OR state = 'received') AND state NOT IN ('duplicate', 'nullified')"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_unforwarded",
            [*OVERDUE_COLUMNS, "forwarded_at"],
            unique=False,
            sqlite_where=sa.text(UNFORWARDED_COUNTED),
            postgresql_where=sa.text(UNFORWARDED_COUNTED),
        )
        batch_op.create_index("ix_cases_forwarded", ["forwarded_at", *OVERDUE_COLUMNS], unique=False)
    connection = op.get_bind()
    digest_counts = sa.Table("digest_counts", sa.MetaData(), autoload_with=connection)
    keys = [digest_counts.c.product, digest_counts.c.indication, digest_counts.c.code]
    all_time = (
        sa.select(sa.literal(ALL_TIME, sa.Date()), *keys, sa.func.sum(digest_counts.c.n))
        .where(digest_counts.c.week != ALL_TIME)
        .group_by(*keys)
    )
    connection.execute(digest_counts.insert().from_select(["week", "product", "indication", "code", "n"], all_time))


def downgrade() -> None:
    connection = op.get_bind()
    digest_counts = sa.Table("digest_counts", sa.MetaData(), autoload_with=connection)
    connection.execute(digest_counts.delete().where(digest_counts.c.week == ALL_TIME))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_forwarded")
        batch_op.drop_index("ix_cases_unforwarded")
