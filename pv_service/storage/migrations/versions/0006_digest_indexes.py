"""covering indexes for the digest's grouped counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:45:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST_COLUMNS = ["received_at", "state", "product", "patient_id", "priority", "serious"]
DIGEST_COLUMNS += ["forward_due", "forwarded_at", "triage_due"]


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_digest", DIGEST_COLUMNS, unique=False)
    with op.batch_alter_table("case_reactions", schema=None) as batch_op:
        batch_op.create_index("ix_case_reactions_case_code", ["case_id", "code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_reactions", schema=None) as batch_op:
        batch_op.drop_index("ix_case_reactions_case_code")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_digest")
