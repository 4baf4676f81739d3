"""briefs keep their request, redacted evidence and redaction counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('briefs') as batch:
        batch.add_column(sa.Column('request', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column('redactions', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('briefs') as batch:
        batch.drop_column('redactions')
        batch.drop_column('evidence')
        batch.drop_column('request')
