"""second stage: detected language, spam signals, model score, bans, labels

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = ('classify_attempts', 'classified_at', 'model_score', 'held', 'flag_reasons', 'signals', 'client_hash',
           'fingerprint', 'lang_detected')
INDEXES = {'ix_comments_fingerprint_created': ['fingerprint', 'created_at'],
           'ix_comments_client_created': ['client_hash', 'created_at'],
           'ix_comments_email_created': ['email', 'created_at']}


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lang_detected', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('client_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('signals', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('flag_reasons', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('held', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('model_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('classified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('classify_attempts', sa.Integer(), server_default='0', nullable=False))
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    # A honeypot comment was held already: it is the first kind of held comment.
    op.execute(sa.text("UPDATE comments SET held = :yes, flag_reasons = :reasons WHERE honeypot = :yes")
               .bindparams(yes=True, reasons='["honeypot"]'))
    op.create_table('bans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('comment_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_by', sa.String(length=100), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bans_scope_value', 'bans', ['scope', 'value_hash'], unique=False)
    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('lang', sa.String(length=16), nullable=True),
    sa.Column('model_score', sa.Float(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('moderator', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('comment_id', 'version', name='uq_labels_comment_version')
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('labels')
    op.drop_index('ix_bans_scope_value', table_name='bans')
    op.drop_table('bans')
    with op.batch_alter_table('comments', schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
        for column in COLUMNS:
            batch_op.drop_column(column)
