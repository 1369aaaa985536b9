"""TF-specific tests: skipped as a whole when TensorFlow is not installed."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("tensorflow") else ["test_*.py"]
