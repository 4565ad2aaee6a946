"""The one error type of stylecast.

Every message names the problem and its fix; the CLI prints it as one line on stderr and exits
with code 2.
"""

from __future__ import annotations


class StylecastError(Exception):
    """A problem the user can fix: the message says what went wrong and what to do."""


class InputError(StylecastError):
    """A file, folder or value handed to stylecast is missing, unreadable or invalid."""


class ModelFileError(StylecastError):
    """A model file is not a stylecast model, is from an unknown version, or is damaged."""


class MissingDependencyError(StylecastError):
    """An optional dependency (for example the `train` extra) is not installed."""


class StyleError(StylecastError):
    """A style name or blend specification cannot be resolved."""
