"""Exceptions that gwalert reports to users as one line."""

from __future__ import annotations


class GwalertError(Exception):
    """Base class: an error whose message is meant for the user, not a traceback."""


class NoticeError(GwalertError):
    """A notice could not be decoded or does not follow the IGWN alert schema."""


class SkyMapError(GwalertError):
    """A sky map could not be read or is not a valid HEALPix probability map."""


class StoreUnavailable(GwalertError):
    """The store cannot be reached: the message being handled must not be acknowledged (the
    broker keeps it and delivers it again)."""


class StoreLost(GwalertError):
    """The store's file was deleted or replaced under a running process: whatever is written
    now would be lost, so nothing more is acknowledged and the process stops."""
