"""The web app's errors: ``StylecastError`` subclasses that pick the HTTP status of the answer.

Every other ``StylecastError`` is a ``400``; :func:`status_for` is the whole mapping.
"""

from __future__ import annotations

from stylecast.errors import InputError, MissingDependencyError, StylecastError


class NotFoundError(InputError):
    """No job, style, painting or peer with that id (``404``)."""


class ConflictError(InputError):
    """The request clashes with the state of things: a job not done yet, a name in use (``409``)."""


class TooLargeError(InputError):
    """An upload over the server's size limit (``413``)."""


class UnsupportedMediaError(InputError):
    """An upload that is not the kind of file the endpoint takes (``415``)."""


class TooManyPeersError(StylecastError):
    """Every live slot is taken (``429``)."""


class StorageError(StylecastError):
    """The server cannot store what it was sent: its disk is full or its data dir unwritable (``507``)."""


def status_for(error: StylecastError) -> int:
    """The HTTP status that answers ``error``: a 4xx (the client, or the server's setup, can fix it), or 507
    when the server's own disk is the problem."""
    for kind, status in ((NotFoundError, 404), (ConflictError, 409), (TooLargeError, 413),
                         (UnsupportedMediaError, 415), (TooManyPeersError, 429), (StorageError, 507),
                         # 424 Failed Dependency: the request is fine, the server lacks an optional extra.
                         (MissingDependencyError, 424)):
        if isinstance(error, kind):
            return status
    return 400
