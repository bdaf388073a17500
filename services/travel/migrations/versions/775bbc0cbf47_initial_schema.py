"""initial schema

Revision ID: 775bbc0cbf47
Revises: 
Create Date: 2026-11-28 20:59:21.440595
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes column types as sqlmodel.sql.sqltypes.X

from shared import platform_migrations


revision: str = '775bbc0cbf47'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v1()
    op.create_table('calendartoken',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('delegation',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('host_department', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('origin_city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('origin_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('origin_place_id', sa.Integer(), nullable=False),
    sa.Column('origin_place_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('origin_latitude', sa.Float(), nullable=False),
    sa.Column('origin_longitude', sa.Float(), nullable=False),
    sa.Column('origin_cell', sa.Integer(), nullable=False),
    sa.Column('organisation', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('visitors', sa.Integer(), nullable=False),
    sa.Column('arrival', sa.Date(), nullable=False),
    sa.Column('departure', sa.Date(), nullable=False),
    sa.Column('official_guest', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.create_index('ix_delegation_cell_arrival', ['origin_cell', 'arrival'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegation_host_department'), ['host_department'], unique=False)

    op.create_table('trip',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('visibility', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('estimated_cost', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trip_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_trip_status'), ['status'], unique=False)

    op.create_table('crossing',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('trip_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('delegation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('leg_id', sa.Integer(), nullable=False),
    sa.Column('place_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('shared_start', sa.Date(), nullable=False),
    sa.Column('shared_end', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('detected_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['delegation_id'], ['delegation.id'], ),
    sa.ForeignKeyConstraint(['trip_id'], ['trip.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trip_id', 'delegation_id')
    )
    with op.batch_alter_table('crossing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crossing_delegation_id'), ['delegation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crossing_trip_id'), ['trip_id'], unique=False)

    op.create_table('leg',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('place_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cell', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['trip_id'], ['trip.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('leg', schema=None) as batch_op:
        batch_op.create_index('ix_leg_cell_start', ['cell', 'start_date', 'end_date'], unique=False, postgresql_include=['trip_id'])
        batch_op.create_index(batch_op.f('ix_leg_place_id'), ['place_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leg_trip_id'), ['trip_id'], unique=False)

    op.create_table('overlap',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('trip_a_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('trip_b_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('leg_a_id', sa.Integer(), nullable=True),
    sa.Column('leg_b_id', sa.Integer(), nullable=True),
    sa.Column('delegation_a_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('delegation_b_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('place_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=False),
    sa.Column('shared_start', sa.Date(), nullable=False),
    sa.Column('shared_end', sa.Date(), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('detected_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['delegation_a_id'], ['delegation.id'], ),
    sa.ForeignKeyConstraint(['delegation_b_id'], ['delegation.id'], ),
    sa.ForeignKeyConstraint(['trip_a_id'], ['trip.id'], ),
    sa.ForeignKeyConstraint(['trip_b_id'], ['trip.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delegation_a_id', 'delegation_b_id'),
    sa.UniqueConstraint('trip_a_id', 'trip_b_id')
    )
    with op.batch_alter_table('overlap', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_overlap_delegation_a_id'), ['delegation_a_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_overlap_delegation_b_id'), ['delegation_b_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_overlap_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_overlap_trip_a_id'), ['trip_a_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_overlap_trip_b_id'), ['trip_b_id'], unique=False)

    op.create_table('traveller',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('elected_official', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['trip_id'], ['trip.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('traveller', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_traveller_trip_id'), ['trip_id'], unique=False)




def downgrade() -> None:
    with op.batch_alter_table('traveller', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_traveller_trip_id'))

    op.drop_table('traveller')
    with op.batch_alter_table('overlap', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overlap_trip_b_id'))
        batch_op.drop_index(batch_op.f('ix_overlap_trip_a_id'))
        batch_op.drop_index(batch_op.f('ix_overlap_status'))
        batch_op.drop_index(batch_op.f('ix_overlap_delegation_b_id'))
        batch_op.drop_index(batch_op.f('ix_overlap_delegation_a_id'))

    op.drop_table('overlap')
    with op.batch_alter_table('leg', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leg_trip_id'))
        batch_op.drop_index(batch_op.f('ix_leg_place_id'))
        batch_op.drop_index('ix_leg_cell_start', postgresql_include=['trip_id'])

    op.drop_table('leg')
    with op.batch_alter_table('crossing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crossing_trip_id'))
        batch_op.drop_index(batch_op.f('ix_crossing_delegation_id'))

    op.drop_table('crossing')
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trip_status'))
        batch_op.drop_index(batch_op.f('ix_trip_department'))

    op.drop_table('trip')
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delegation_host_department'))
        batch_op.drop_index('ix_delegation_cell_arrival')

    op.drop_table('delegation')
    op.drop_table('calendartoken')
    platform_migrations.downgrade_v1()
