"""one ban in force per author and scope (a partial unique index instead of the plain one)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

IN_FORCE = sa.text('removed_at IS NULL')


def upgrade() -> None:
    """Apply this revision (two bans in force for one author, possible before, keep the older one)."""
    op.execute("UPDATE bans SET removed_at = created_at, removed_by = 'migration 0008 (duplicate)' "
               "WHERE removed_at IS NULL AND EXISTS (SELECT 1 FROM bans b WHERE b.scope = bans.scope "
               "AND b.value_hash = bans.value_hash AND b.removed_at IS NULL AND b.id < bans.id)")
    op.drop_index('ix_bans_scope_value', table_name='bans')
    op.create_index('ix_bans_in_force', 'bans', ['scope', 'value_hash'], unique=True,
                    postgresql_where=IN_FORCE, sqlite_where=IN_FORCE)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_bans_in_force', table_name='bans')
    op.create_index('ix_bans_scope_value', 'bans', ['scope', 'value_hash'], unique=False)
