"""The installed version of skyalert-client."""

from __future__ import annotations

__all__ = ["USER_AGENT", "__version__"]

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skyalert-client")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

USER_AGENT = f"skyalert-client/{__version__}"
