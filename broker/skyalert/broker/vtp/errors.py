"""Errors of the VTP channel."""

from __future__ import annotations

from skyalert.broker.core.errors import SkyalertError


class VtpError(SkyalertError):
    """Base of the VTP channel's errors."""


class FrameError(VtpError):
    """A peer sent something that is not a VTP frame we accept; its connection is closed."""
