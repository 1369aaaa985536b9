"""The contract every backend implements (see docs/backend-contract.md).

A backend is one object: its module base class, its ``ops`` and ``nn`` namespaces,
target-network helpers and ``compile``. The core reaches a backend only through this
interface and the registry; it never imports one.
"""

from __future__ import annotations

import abc
import numbers
import threading
from types import ModuleType
from typing import Any

__all__ = ["Backend", "check_seed", "check_thread_counts"]


class Backend(abc.ABC):
    """A tensor framework plugged into rlmodule-core.

    Subclasses set the class attributes and implement the abstract methods. One
    instance per backend package is exported as ``<package>.backend`` and announced in
    the ``rlmodule_core.backends`` entry-point group.

    Example:
        >>> backend = rlm.get_backend("numpy")
        >>> MyModuleOnNumpy = backend.bind(MyModule)   # the composed class
        >>> x = backend.ops.softmax(backend.ops.asarray([[1.0, 2.0]]))
    """

    #: Canonical name ("torch", "tf", "jax", "numpy").
    name: str
    #: Other names that select this backend.
    aliases: tuple[str, ...] = ()
    #: Whether forwards compute values (False for an export-only backend such as ONNX).
    computes: bool = True
    #: The pip extra that installs the framework, for messages.
    extra: str | None = None
    #: The backend's RLModule base class (subclass of the core RLModule and the framework's module).
    RLModule: type
    #: The backend's base class for neutral blocks (``rlmodule_core.nn.block.Block``).
    Block: type
    #: The tensor namespace.
    ops: ModuleType
    #: The layer namespace.
    nn: ModuleType

    def __init__(self) -> None:
        self._bound: dict[type, type] = {}
        self._bind_lock = threading.Lock()

    # ---- composition ------------------------------------------------------------------
    def bind(self, neutral_cls: type) -> type:
        """Returns the class of ``neutral_cls`` composed with this backend's base (cached).

        A neutral RLModule becomes ``(neutral_cls, self.RLModule)``; a neutral block
        becomes ``(neutral_cls, self.Block)``. A class that already belongs to this
        backend is returned unchanged.

        Raises:
            ValueError: the class belongs to another backend.
        """
        owner = getattr(neutral_cls, "_backend_name", None)
        if owner == self.name:
            return neutral_cls
        if owner is not None:
            raise ValueError(
                f"{neutral_cls.__qualname__} is a {owner!r} class and cannot be bound to the "
                f"{self.name!r} backend. Write it against the neutral base class instead."
            )
        cached = self._bound.get(neutral_cls)
        if cached is not None:
            return cached
        # The neutral bases mark themselves (``_rlm_kind``), so this kit needs no import
        # of the module API above it.
        kind = getattr(neutral_cls, "_rlm_kind", None)
        if kind == "module":
            base = self.RLModule
        elif kind == "block":
            base = self.Block
        else:
            raise TypeError(
                "Expected a subclass of rlmodule_core.RLModule or rlmodule_core.Block; "
                f"received {neutral_cls!r}."
            )
        with self._bind_lock:
            cached = self._bound.get(neutral_cls)
            if cached is None:
                namespace = {
                    "__module__": neutral_cls.__module__,
                    "__qualname__": neutral_cls.__qualname__,
                    "__doc__": neutral_cls.__doc__,
                    "_neutral_class": neutral_cls,
                }
                cached = type(base)(neutral_cls.__name__, (neutral_cls, base), namespace)
                self._bound[neutral_cls] = cached
        return cached

    # ---- tensors ------------------------------------------------------------------------
    @abc.abstractmethod
    def is_tensor(self, x: Any) -> bool:
        """Whether ``x`` is a tensor of this framework."""

    # ---- target networks ----------------------------------------------------------------
    @abc.abstractmethod
    def make_target_network(self, net: Any) -> Any:
        """A frozen copy of ``net`` with equal weights, excluded from gradients."""

    @abc.abstractmethod
    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        """Polyak update ``target <- tau * main + (1 - tau) * target`` in place."""

    # ---- training -----------------------------------------------------------------------
    def make_optimizer(self, module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> Any:
        """An Adam optimizer over ``module``'s trainable parameters (docs/backend-contract.md).

        Raises:
            ValueError: this backend cannot train (the default, e.g. NumPy).
        """
        raise ValueError(
            f"The {self.name!r} backend cannot train: it computes no gradients. Train with "
            "framework='torch', 'tf' or 'jax', then deploy the checkpoint on any backend."
        )

    # ---- threads ----------------------------------------------------------------------------
    def set_threads(self, threads: int, *, inter_op: int | None = None) -> None:
        """Sets how many threads this process's framework uses per op (and between ops).

        RL acts and learns on small models: one thread per process is usually fastest,
        and several processes (seeds, env runners) on one machine each keep to their
        share of the cores instead of oversubscribing them. Call it before the framework
        runs its first op (TF and JAX fix their thread pools then; a later call that
        cannot apply warns). The default does nothing (NumPy leaves its BLAS alone).

        Args:
            threads: intra-op threads (>= 1).
            inter_op: inter-op threads (>= 1) where the framework has such a pool;
                defaults to ``threads``.

        Raises:
            ValueError: a count below 1.

        Example:
            >>> rlm.get_backend("torch").set_threads(1)   # before building modules
        """
        check_thread_counts(threads, inter_op)

    # ---- randomness -----------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Seeds this process's default random generator (the one ``ops.as_rng(None)`` gives).

        Draws made without an explicit ``rng=`` (DQN's epsilon-greedy exploration inside
        ``forward_exploration``, a sample taken in a forward pass) then repeat from run to
        run. ``rlmodule train`` calls it with the run's seed and each env runner with its
        own derived seed. Call it before building or compiling modules (a compiled JAX
        forward takes its base key from the default stream at its first call). The default
        only validates the seed: a backend that draws no random numbers (ONNX export) has
        nothing to seed.

        Args:
            seed: an int in [0, 2**63).

        Raises:
            ValueError: a seed that is not such an int.

        Example:
            >>> rlm.get_backend("numpy").seed(0)
        """
        check_seed(seed)

    # ---- compilation ----------------------------------------------------------------------
    @abc.abstractmethod
    def compile(self, module: Any, **options: Any) -> Any:
        """Compiles the forward passes of ``module`` and returns it.

        ``get_state``/``set_state`` keep working on the result, and a ``set_state``
        after compiling changes the compiled outputs.
        """

    def __repr__(self) -> str:
        return f"<rlmodule backend {self.name!r}>"


def check_thread_counts(threads: int, inter_op: int | None) -> int:
    """Validates ``set_threads``' arguments; returns the inter-op count to use.

    Raises:
        ValueError: a count that is not an int >= 1.

    Example:
        >>> check_thread_counts(2, None), check_thread_counts(2, 1)
        (2, 1)
    """
    for name, value in (("threads", threads), ("inter_op", inter_op)):
        if value is None and name == "inter_op":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Expected {name} to be an int >= 1; received {value!r}. Pass e.g. threads=1 "
                "(one thread per process suits the small models of RL)."
            )
    return threads if inter_op is None else inter_op


def check_seed(seed: int) -> int:
    """Validates ``Backend.seed``'s argument and returns it.

    Raises:
        ValueError: not an int in [0, 2**63) (every framework takes that range).

    Example:
        >>> check_seed(7)
        7
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(
            f"Expected seed to be an int in [0, 2**63); received {seed!r} of type {type(seed).__name__}. "
            "Pass e.g. seed=0."
        )
    return int(seed)
