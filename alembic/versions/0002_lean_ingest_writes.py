"""lean ingest writes: no per-scan occurrence rows, evidence apart from the finding row

A finding keeps its sighting count, last sighting and last scan; the retained raw scans say
which scans saw it. Writing a row per finding per scan doubled the cost of a re-ingest and
nothing read it. A finding's evidence (request/response excerpts) moves to
``finding_evidence``, so a sighting rewrites a narrow row. The index on
``findings.grouping_key`` goes: no query filters on it (tickets carry the unique key), and its
random keys made every new finding's insert slower.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.drop_index(op.f("ix_occurrences_scan_id"), table_name="occurrences")
    op.drop_table("occurrences")
    op.create_table(
        "finding_evidence",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_evidence_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_finding_evidence")),
    )
    op.execute("INSERT INTO finding_evidence (finding_id, details) SELECT id, details FROM findings")
    with op.batch_alter_table("findings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_grouping_key"))
        batch_op.drop_column("details")


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch_op:
        batch_op.add_column(sa.Column("details", _json(), nullable=True))
        batch_op.create_index(batch_op.f("ix_findings_grouping_key"), ["grouping_key"])
    op.execute(
        "UPDATE findings SET details = (SELECT e.details FROM finding_evidence e "
        "WHERE e.finding_id = findings.id)"
    )
    op.execute("UPDATE findings SET details = '{}' WHERE details IS NULL")
    with op.batch_alter_table("findings") as batch_op:
        batch_op.alter_column("details", existing_type=_json(), nullable=False)
    op.drop_table("finding_evidence")
    op.create_table(
        "occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.String(length=4096), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_occurrences_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_occurrences_scan_id_scans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_occurrences")),
        sa.UniqueConstraint(
            "finding_id", "scan_id", name=op.f("uq_occurrences_finding_id_scan_id")
        ),
    )
    op.create_index(op.f("ix_occurrences_scan_id"), "occurrences", ["scan_id"], unique=False)
