"""The backend conformance suite, shipped with the package.

Run it against any registered backend (a built-in one or a third-party package announced
through the ``rlmodule_core.backends`` entry-point group)::

    RLMODULE_TEST_BACKENDS=mybackend pytest --pyargs rlmodule_core.testing

``RLMODULE_TEST_BACKENDS`` is a comma-separated list of backend names (default
``numpy``). A name that is unknown, or whose framework is not installed, fails the run
with a message that says how to fix it; nothing is skipped. The suite needs ``pytest``
(the ``test`` extra) and nothing else beyond the backend under test.

Example:
    >>> from rlmodule_core.testing import selected_backends
    >>> selected_backends()   # with RLMODULE_TEST_BACKENDS unset
    ['numpy']
"""

from __future__ import annotations

from rlmodule_core.testing.selection import ENV_VAR, selected_backends

__all__ = ["ENV_VAR", "selected_backends"]
