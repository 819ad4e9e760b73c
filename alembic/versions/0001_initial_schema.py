"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 11:32:22.630803
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("from_state", sa.String(length=64), nullable=True),
        sa.Column("to_state", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("external_id", name=op.f("uq_events_external_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_at", ["at"], unique=False)
        batch_op.create_index("ix_events_kind_at", ["kind", "at"], unique=False)
        batch_op.create_index("ix_events_ticket_id_seq", ["ticket_id", "seq"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=512), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_jobs_idempotency_key")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_state_lease_until", ["state", "lease_until"], unique=False)
        batch_op.create_index("ix_jobs_state_run_after", ["state", "run_after"], unique=False)

    op.create_table(
        "kev_catalogs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("catalog_version", sa.String(length=64), nullable=False),
        sa.Column("date_released", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("etag", sa.String(length=256), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kev_catalogs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_kev_catalogs_sha256")),
    )
    with op.batch_alter_table("kev_catalogs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kev_catalogs_is_current"), ["is_current"], unique=False
        )

    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("scanner", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=True),
        sa.Column("container", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("artifact_uri", sa.String(length=2048), nullable=True),
        sa.Column("artifact_key", sa.String(length=1024), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("duplicate", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("escalated_kev", sa.Integer(), nullable=False),
        sa.Column("tickets_opened", sa.Integer(), nullable=False),
        sa.Column("ignored", sa.Integer(), nullable=False),
        sa.Column(
            "scan_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            "ix_scans_target_received_at", ["target", "received_at"], unique=False
        )

    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=256), nullable=True),
        sa.Column("event_head_seq", sa.Integer(), nullable=False),
        sa.Column("event_head_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("week", name=op.f("uq_snapshots_week")),
    )
    op.create_table(
        "state_values",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_state_values")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grouping_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("template_id", sa.String(length=512), nullable=False),
        sa.Column("asset", sa.String(length=2048), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("reported_severity", sa.String(length=16), nullable=False),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column(
            "cve_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracker", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("external_key", sa.String(length=128), nullable=True),
        sa.Column("external_url", sa.String(length=2048), nullable=True),
        sa.Column("assignee_email", sa.String(length=320), nullable=True),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", sa.String(length=64), nullable=True),
        sa.Column("slack_thread_ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("grouping_key", name=op.f("uq_tickets_grouping_key")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_external_id"), ["external_id"], unique=False)
        batch_op.create_index("ix_tickets_next_reminder_at", ["next_reminder_at"], unique=False)
        batch_op.create_index("ix_tickets_status_due_date", ["status", "due_date"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("grouping_key", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("asset", sa.String(length=2048), nullable=False),
        sa.Column("matcher_name", sa.String(length=512), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("reported_severity", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column(
            "cve_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column("kev_date_added", sa.Date(), nullable=True),
        sa.Column("kev_due_date", sa.Date(), nullable=True),
        sa.Column("kev_ransomware", sa.Boolean(), nullable=True),
        sa.Column("kev_catalog_version", sa.String(length=64), nullable=True),
        sa.Column("kev_delisted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("last_scan_id", sa.Integer(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["last_scan_id"], ["scans.id"], name=op.f("fk_findings_last_scan_id_scans")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_findings_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_findings_fingerprint")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_findings_grouping_key"), ["grouping_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_findings_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "kev_entries",
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("cve_id", sa.String(length=32), nullable=False),
        sa.Column("date_added", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("known_ransomware", sa.Boolean(), nullable=True),
        sa.Column("vendor_project", sa.String(length=256), nullable=False),
        sa.Column("product", sa.String(length=256), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"], ["kev_catalogs.id"], name=op.f("fk_kev_entries_catalog_id_kev_catalogs")
        ),
        sa.PrimaryKeyConstraint("catalog_id", "cve_id", name=op.f("pk_kev_entries")),
    )
    with op.batch_alter_table("kev_entries", schema=None) as batch_op:
        batch_op.create_index("ix_kev_entries_cve_id", ["cve_id"], unique=False)

    op.create_table(
        "risk_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_by_name", sa.String(length=256), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("compensating_controls", sa.Text(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_by_name", sa.String(length=256), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("approval_channel", sa.String(length=64), nullable=True),
        sa.Column("approval_ts", sa.String(length=32), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_risk_acceptances_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_acceptances")),
    )
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_acceptances_status_expires_on", ["status", "expires_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_acceptances_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "finding_cves",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("cve_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_cves_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("finding_id", "cve_id", name=op.f("pk_finding_cves")),
    )
    with op.batch_alter_table("finding_cves", schema=None) as batch_op:
        batch_op.create_index("ix_finding_cves_cve_id", ["cve_id"], unique=False)

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
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_occurrences_scan_id"), ["scan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_occurrences_scan_id"))

    op.drop_table("occurrences")
    with op.batch_alter_table("finding_cves", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_cves_cve_id")

    op.drop_table("finding_cves")
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_acceptances_ticket_id"))
        batch_op.drop_index("ix_risk_acceptances_status_expires_on")

    op.drop_table("risk_acceptances")
    with op.batch_alter_table("kev_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_kev_entries_cve_id")

    op.drop_table("kev_entries")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_findings_grouping_key"))

    op.drop_table("findings")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_due_date")
        batch_op.drop_index("ix_tickets_next_reminder_at")
        batch_op.drop_index(batch_op.f("ix_tickets_external_id"))

    op.drop_table("tickets")
    op.drop_table("state_values")
    op.drop_table("snapshots")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_target_received_at")
        batch_op.drop_index(batch_op.f("ix_scans_sha256"))
        batch_op.drop_index(batch_op.f("ix_scans_received_at"))

    op.drop_table("scans")
    with op.batch_alter_table("kev_catalogs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kev_catalogs_is_current"))

    op.drop_table("kev_catalogs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_run_after")
        batch_op.drop_index("ix_jobs_state_lease_until")

    op.drop_table("jobs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_ticket_id_seq")
        batch_op.drop_index("ix_events_kind_at")
        batch_op.drop_index("ix_events_at")

    op.drop_table("events")
