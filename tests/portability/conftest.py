import sys
from pathlib import Path

# The conformance helpers (numpy_tree, assert_tree_close, ...) serve this suite too.
sys.path.insert(0, str(Path(__file__).parents[1] / "conformance"))
