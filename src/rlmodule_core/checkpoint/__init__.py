"""The checkpoint format: files, checksums, atomic directories and safetensors I/O.

A leaf package: it knows the format (docs/checkpoint-format.md) but no module class.
Building modules from checkpoints is ``rlmodule_core.checkpointing``.
"""

from rlmodule_core.checkpoint.atomic import atomic_directory, foreign_entries, read_consistently
from rlmodule_core.checkpoint.digest import DIGEST, algorithm_of
from rlmodule_core.checkpoint.errors import (
    CheckpointError,
    CorruptCheckpointError,
    NotACheckpointError,
)
from rlmodule_core.checkpoint.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    RESERVED_NAMES,
    STATE_FILE,
    module_id_problem,
)
from rlmodule_core.checkpoint.metadata import (
    read_metadata,
    verify_checkpoint,
    verify_metadata,
    write_metadata,
)
from rlmodule_core.checkpoint.paths import check_name, inside
from rlmodule_core.checkpoint.schema import check_sizes, check_spec_dict
from rlmodule_core.checkpoint.serialization import (
    class_path,
    register_module_class,
    resolve_class,
    to_json_value,
)
from rlmodule_core.checkpoint.state_file import (
    load_state_file,
    read_state_header,
    save_state_file,
    stream_state_file,
)

__all__ = [
    "DIGEST", "FORMAT_NAME", "FORMAT_VERSION", "METADATA_FILE", "RESERVED_NAMES", "STATE_FILE",
    "CheckpointError", "CorruptCheckpointError", "NotACheckpointError",
    "algorithm_of", "atomic_directory", "check_name", "check_sizes", "check_spec_dict", "class_path",
    "foreign_entries", "inside", "load_state_file", "module_id_problem",
    "read_consistently", "read_metadata", "read_state_header", "register_module_class",
    "resolve_class", "save_state_file", "stream_state_file", "to_json_value", "verify_checkpoint",
    "verify_metadata", "write_metadata",
]
