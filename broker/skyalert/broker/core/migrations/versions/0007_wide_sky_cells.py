"""Cone searches by error tier: wide error circles get their sky cell and a tier, indexed together.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import astropy.units as u
import numpy as np
import sqlalchemy as sa
from alembic import op
from astropy_healpix import core as healpix

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 5000
# Frozen copies of archive.cone.CELL_ORDER and archive.store.ERROR_TIERS as of this revision
# (a migration must not change when the code does); 0006 indexed errors up to the first bound.
_CELL_ORDER = 16
_ERROR_TIERS = (1.0, 4.0, 16.0, 64.0)

_alerts = sa.table(
    "alerts",
    sa.column("id", sa.String()),
    sa.column("ra", sa.Float()),
    sa.column("dec", sa.Float()),
    sa.column("ra_dec_error", sa.Float()),
    sa.column("sky_cell", sa.BigInteger()),
    sa.column("sky_tier", sa.SmallInteger()),
)


def upgrade() -> None:
    op.add_column("alerts", sa.Column("sky_tier", sa.SmallInteger(), nullable=True))
    _fill_wide()
    op.create_index("ix_alerts_sky_tier_cell", "alerts", ["sky_tier", "sky_cell"], unique=False)
    op.drop_index(op.f("ix_alerts_ra_dec_error"), table_name="alerts")


def _tier(error: float) -> int:
    return next((k for k, bound in enumerate(_ERROR_TIERS) if error <= bound), len(_ERROR_TIERS))


def _fill_wide() -> None:
    """Give every positioned alert with an error above the first bound its cell and tier."""
    alerts = _alerts
    bind = op.get_bind()
    update = (
        alerts.update()
        .where(alerts.c.id == sa.bindparam("alert_id"))
        .values(sky_cell=sa.bindparam("cell"), sky_tier=sa.bindparam("tier"))
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(alerts.c.id, alerts.c.ra, alerts.c.dec, alerts.c.ra_dec_error)
            .where(
                alerts.c.id > after,
                alerts.c.ra_dec_error > _ERROR_TIERS[0],
                alerts.c.ra.is_not(None),
                alerts.c.dec.is_not(None),
            )
            .order_by(alerts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        cells = healpix.lonlat_to_healpix(
            np.array([r.ra for r in rows]) * u.deg,
            np.array([r.dec for r in rows]) * u.deg,
            2**_CELL_ORDER,
            order="nested",
        )
        values = [
            {"alert_id": r.id, "cell": int(c), "tier": _tier(r.ra_dec_error)}
            for r, c in zip(rows, cells, strict=True)
        ]
        bind.execute(update, values)
        after = rows[-1].id


def downgrade() -> None:
    alerts = _alerts
    op.create_index(op.f("ix_alerts_ra_dec_error"), "alerts", ["ra_dec_error"], unique=False)
    op.drop_index("ix_alerts_sky_tier_cell", table_name="alerts")
    op.get_bind().execute(
        alerts.update().where(alerts.c.ra_dec_error > _ERROR_TIERS[0]).values(sky_cell=None)
    )
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("sky_tier")
