"""comments.awaits_model: the check sent the comment to the offensive-language model

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (rows checked before it keep false: the re-dispatch finds them by their claims)."""
    op.add_column('comments', sa.Column('awaits_model', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('comments') as batch:
        batch.drop_column('awaits_model')
