"""User-facing error types.

Every error a user can cause (a bad path, a wrong checkpoint, a corrupt image) is raised as a
:class:`GmxaiError` subclass whose message is written for that user. The CLI prints the message
on one line and the GUI shows it in a dialog; neither ever shows a traceback for these.
"""

from __future__ import annotations


class GmxaiError(Exception):
    """Base class for errors caused by user input, with a message meant to be shown as is."""


class CheckpointError(GmxaiError):
    """The checkpoint cannot be loaded: missing, unsafe, wrong architecture or corrupt."""


class ImageLoadError(GmxaiError):
    """One image cannot be used. A folder run records it and carries on with the others."""


class FaceNotFoundError(GmxaiError):
    """No face was detected. The image stays usable unaligned."""


class ParameterError(GmxaiError):
    """A method parameter, target or option has an invalid value."""


class Cancelled(Exception):  # noqa: N818 - reads naturally at raise sites: ``raise Cancelled``
    """A job was cancelled by the user. Not an error: callers drop the partial result."""
