"""Errors a user can act on.

Every failure that a person running `mnist-train` can fix (bad flag values, missing or
corrupt data, an unreachable matmul service) is raised as a `TrainerError`. The CLI prints
its message as one line and exits non-zero; library callers can catch the subclasses.
"""

from __future__ import annotations


class TrainerError(Exception):
    """A failure with a message that says what was wrong and how to fix it."""


class ConfigError(TrainerError, ValueError):
    """A training option has a value the trainer cannot use."""


class DataNotFoundError(TrainerError, FileNotFoundError):
    """Fashion-MNIST is not in any place searched, and downloading it failed."""


class CorruptDataError(TrainerError):
    """A data file is truncated, malformed, or does not match the published checksum."""


class CheckpointError(TrainerError):
    """A checkpoint or saved model is missing, unreadable or from an incompatible run."""


class ServiceUnavailableError(TrainerError, ConnectionError):
    """The remote matmul service did not answer, even after retries."""


class RunFolderError(TrainerError):
    """The run folder cannot be used: another trainer holds it, or a file cannot be written."""
