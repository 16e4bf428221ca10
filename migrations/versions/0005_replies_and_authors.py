"""replies and authors: parent, depth, author token, email, version, edits, deletion, honeypot

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('depth', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('author_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('notify_replies', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('honeypot', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_comments_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key('fk_comments_parent_id_comments', 'comments', ['parent_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('translations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('translations', schema=None) as batch_op:
        batch_op.drop_column('version')
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_comments_parent_id_comments', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_comments_parent_id'))
        for column in ('honeypot', 'deleted_at', 'edited_at', 'version', 'notify_replies', 'email',
                       'author_token_hash', 'depth', 'parent_id'):
            batch_op.drop_column(column)
