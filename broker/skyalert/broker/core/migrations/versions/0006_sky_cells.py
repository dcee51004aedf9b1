"""Archive at scale: a HEALPix sky cell per alert and an index on error radii for cone searches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import astropy.units as u
import sqlalchemy as sa
from alembic import op
from astropy_healpix import core as healpix

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 5000
# Frozen copies of archive.cone.CELL_ORDER and archive.store.SMALL_ERROR as of this revision
# (a migration must not change when the code does).
_CELL_ORDER = 16
_SMALL_ERROR = 1.0


def upgrade() -> None:
    op.add_column("alerts", sa.Column("sky_cell", sa.BigInteger(), nullable=True))
    _fill_cells()
    op.create_index(op.f("ix_alerts_sky_cell"), "alerts", ["sky_cell"], unique=False)
    op.create_index(op.f("ix_alerts_ra_dec_error"), "alerts", ["ra_dec_error"], unique=False)


def _fill_cells() -> None:
    """Give every archived alert with a position its cell, a batch of ids at a time."""
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.String()),
        sa.column("ra", sa.Float()),
        sa.column("dec", sa.Float()),
        sa.column("ra_dec_error", sa.Float()),
        sa.column("sky_cell", sa.BigInteger()),
    )
    bind = op.get_bind()
    after = ""
    while True:
        rows = bind.execute(
            sa.select(alerts.c.id, alerts.c.ra, alerts.c.dec, alerts.c.ra_dec_error)
            .where(alerts.c.id > after, alerts.c.ra.is_not(None), alerts.c.dec.is_not(None))
            .order_by(alerts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for id_, ra, dec, error in rows:
            if (error or 0.0) <= _SMALL_ERROR:
                cell = healpix.lonlat_to_healpix(
                    ra * u.deg, dec * u.deg, 2**_CELL_ORDER, order="nested"
                )
                bind.execute(alerts.update().where(alerts.c.id == id_).values(sky_cell=int(cell)))
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_ra_dec_error"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_sky_cell"), table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("sky_cell")
