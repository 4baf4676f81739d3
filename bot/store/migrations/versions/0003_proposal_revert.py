"""proposals record how to revert them (before executing) and which proposal they revert

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 07:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('proposals') as batch:
        batch.add_column(sa.Column('revert_action', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column('reverts', sa.Integer(), nullable=True))
        batch.create_unique_constraint('uq_proposals_reverts', ['reverts'])


def downgrade() -> None:
    with op.batch_alter_table('proposals') as batch:
        batch.drop_constraint('uq_proposals_reverts', type_='unique')
        batch.drop_column('reverts')
        batch.drop_column('revert_action')
