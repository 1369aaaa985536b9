"""The checkpoint format: files, checksums, atomic directories and safetensors I/O.

A leaf package: it knows the format (docs/checkpoint-format.md) but no module class.
Building modules from checkpoints is :mod:`rlmodule_core.checkpointing`.
"""

from rlmodule_core.checkpoint.atomic import atomic_directory
from rlmodule_core.checkpoint.errors import CheckpointError, CorruptCheckpointError
from rlmodule_core.checkpoint.metadata import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    STATE_FILE,
    read_metadata,
    verify_checkpoint,
    verify_metadata,
    write_metadata,
)
from rlmodule_core.checkpoint.serialization import (
    class_path,
    import_class,
    importable,
    to_json_value,
)
from rlmodule_core.checkpoint.state_file import load_state_file, save_state_file

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "METADATA_FILE", "STATE_FILE",
    "CheckpointError", "CorruptCheckpointError",
    "atomic_directory", "class_path", "import_class", "importable", "load_state_file",
    "read_metadata", "save_state_file", "to_json_value", "verify_checkpoint",
    "verify_metadata", "write_metadata",
]
