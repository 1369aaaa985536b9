"""The errors every checkpoint reader and writer raises."""

from __future__ import annotations

__all__ = ["CheckpointError", "CorruptCheckpointError", "NotACheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, corrupted or of an unknown format."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's file is missing, altered or truncated (its checksum does not hold)."""


class NotACheckpointError(CheckpointError):
    """The path holds no checkpoint at all (missing, or no ``metadata.json``): a usage error."""
