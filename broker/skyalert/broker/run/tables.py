"""Every table of a deployment: importing this module fills ``Base.metadata``.

Each part owns and defines its tables; only the composition root knows the whole set.
"""

from skyalert.auth import models as auth_models
from skyalert.broker.archive import store as archive_store
from skyalert.broker.circulars import models as circular_models
from skyalert.broker.core import models as core_models
from skyalert.broker.core.db import Base
from skyalert.broker.emails import models as email_models
from skyalert.broker.ingest import rejections

PARTS = (core_models, auth_models, archive_store, rejections, email_models, circular_models)
METADATA = Base.metadata

__all__ = ["METADATA", "PARTS"]
