"""Importing rlmodule_tf picks Keras's TensorFlow backend, or says what to set (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environ, capture_output=True, text=True, timeout=120
    )


def test_unset_keras_backend_becomes_tensorflow():
    result = run(
        """
        import os
        import rlmodule_tf
        import keras
        assert keras.backend.backend() == "tensorflow", keras.backend.backend()
        assert os.environ["KERAS_BACKEND"] == "tensorflow"
        print("ok")
        """
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_another_explicit_backend_fails_with_the_fix():
    result = run(
        """
        import rlmodule_core as rlm
        for name in ("tf", "keras"):
            try:
                rlm.get_backend(name)
            except ImportError as err:
                print("ImportError:", err)
        import sys
        assert "keras" not in sys.modules and "tensorflow" not in sys.modules
        """,
        KERAS_BACKEND="jax",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("ImportError:") == 2
    assert "KERAS_BACKEND='jax'" in result.stdout and "Set KERAS_BACKEND=tensorflow" in result.stdout


def test_keras_already_running_on_another_backend_fails_with_the_fix():
    # Another Keras backend may not be installed here (they need jax or torch), so the
    # Keras imported first reports one: rlmodule_tf must trust the imported Keras.
    result = run(
        """
        import keras
        keras.backend.backend = lambda: "jax"
        try:
            import rlmodule_tf
        except ImportError as err:
            print("ImportError:", err)
        """,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "already imported with the 'jax' backend" in result.stdout
    assert "Set KERAS_BACKEND=tensorflow before keras is first imported" in result.stdout
