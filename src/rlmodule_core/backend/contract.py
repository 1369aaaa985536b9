"""The backend contract in code: the ``ops`` functions, the ``nn`` layers, the optimizer.

``docs/backend-contract.md`` says what each piece means; this module states the names and
signatures so that they can be checked. ``Ops`` and ``Layers`` are protocols
whose methods are the functions and layer constructors a backend's ``ops`` and ``nn``
namespaces provide (``self`` stands for the namespace); ``Optimizer`` is what
``Backend.make_optimizer`` returns and the Learner drives. ``check_backend`` compares
a backend against them and names every missing or mismatched piece; the registry runs it
when it first loads a backend (about a millisecond), and the shipped conformance suite
(``rlmodule_core.testing``) then checks the values.

Example:
    >>> from rlmodule_core.backend.contract import check_backend
    >>> check_backend(rlm.get_backend("numpy"))   # the problems found, none here
    []
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BACKEND_ATTRIBUTES",
    "LAYER_NAMES",
    "OPS_NAMES",
    "BackendContractError",
    "Layers",
    "Ops",
    "Optimizer",
    "check_backend",
    "check_optimizer",
    "check_signature",
]

Tensor = Any
Shape = int | Sequence[int]
DType = Any


class Ops(Protocol):
    """The tensor namespace, NumPy names and semantics (``rlmodule_numpy.ops`` is the reference).

    Dtypes are strings (``"float32"``, ``"int64"``, ``"bool"``); Python floats become
    float32. Random functions take an explicit generator made by ``rng``/``as_rng``.
    """

    # conversion
    def asarray(self, x: Any, dtype: DType = None) -> Tensor:
        """A tensor of ``x``; no copy when ``x`` already is one of that dtype."""

    def to_numpy(self, x: Any) -> Any:
        """An ``np.ndarray`` of ``x`` (detached from any gradient)."""

    def cast(self, x: Any, dtype: DType) -> Tensor:
        """``x`` converted to ``dtype``."""

    def shape(self, x: Any) -> tuple[int, ...]:
        """The shape as a tuple (an unknown size may be a scalar tensor inside a graph)."""

    # shaping
    def reshape(self, x: Any, shape: Shape) -> Tensor:
        """``np.reshape``."""

    def concatenate(self, xs: Sequence[Any], axis: int = -1) -> Tensor:
        """``np.concatenate`` (default: the last axis)."""

    def stack(self, xs: Sequence[Any], axis: int = 0) -> Tensor:
        """``np.stack``."""

    def split(self, x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
        """``np.split``: an int number of equal sections or a list of split indices."""

    def squeeze(self, x: Any, axis: int | Sequence[int]) -> Tensor:
        """``np.squeeze`` of the given size-1 axes."""

    def expand_dims(self, x: Any, axis: int | Sequence[int]) -> Tensor:
        """``np.expand_dims``."""

    def broadcast_to(self, x: Any, shape: Shape) -> Tensor:
        """``np.broadcast_to``."""

    # reductions
    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``np.sum``."""

    def mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``np.mean`` (float32 for integer input)."""

    def max(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``np.max``."""

    def min(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``np.min``."""

    def argmax(self, x: Any, axis: int = -1) -> Tensor:
        """``np.argmax`` (first maximum, int64)."""

    def logsumexp(self, x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(x)))``, stable; an all ``-inf`` slice gives ``-inf``."""

    # elementwise
    def exp(self, x: Any) -> Tensor:
        """``np.exp``."""

    def log(self, x: Any) -> Tensor:
        """``np.log``."""

    def log1p(self, x: Any) -> Tensor:
        """``np.log1p``."""

    def tanh(self, x: Any) -> Tensor:
        """``np.tanh``."""

    def sqrt(self, x: Any) -> Tensor:
        """``np.sqrt``."""

    def square(self, x: Any) -> Tensor:
        """``np.square``."""

    def abs(self, x: Any) -> Tensor:
        """``np.abs``."""

    def sigmoid(self, x: Any) -> Tensor:
        """``1 / (1 + exp(-x))`` without overflow."""

    def softplus(self, x: Any) -> Tensor:
        """``log(1 + exp(x))`` without overflow (``x`` itself for large ``x``)."""

    def relu(self, x: Any) -> Tensor:
        """``max(x, 0)``."""

    def maximum(self, a: Any, b: Any) -> Tensor:
        """``np.maximum``; a Python number takes the tensor's dtype."""

    def minimum(self, a: Any, b: Any) -> Tensor:
        """``np.minimum``."""

    def clip(self, x: Any, lo: Any, hi: Any) -> Tensor:
        """``np.clip`` with bounds that are numbers or tensors."""

    def where(self, cond: Any, a: Any, b: Any) -> Tensor:
        """``np.where``."""

    def softmax(self, x: Any, axis: int = -1) -> Tensor:
        """Softmax over ``axis``, stable for large and ``-inf`` logits."""

    def log_softmax(self, x: Any, axis: int = -1) -> Tensor:
        """Log-softmax over ``axis``, stable for large and ``-inf`` logits."""

    # indexing
    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Tensor:
        """``np.take_along_axis``."""

    def one_hot(self, idx: Any, depth: int, dtype: DType = "float32") -> Tensor:
        """One-hot vectors on a new last axis; out-of-range indices give zeros."""

    def stop_gradient(self, x: Any) -> Tensor:
        """``x`` without gradient flow."""

    # creation
    def zeros(self, shape: Shape, dtype: DType = "float32") -> Tensor:
        """``np.zeros``."""

    def ones(self, shape: Shape, dtype: DType = "float32") -> Tensor:
        """``np.ones``."""

    def full(self, shape: Shape, value: Any, dtype: DType = "float32") -> Tensor:
        """``np.full``."""

    def zeros_like(self, x: Any) -> Tensor:
        """``np.zeros_like``."""

    def ones_like(self, x: Any) -> Tensor:
        """``np.ones_like``."""

    def arange(self, n: int, dtype: DType = "int64") -> Tensor:
        """``np.arange(n)``."""

    def linspace(self, start: float, stop: float, num: int) -> Tensor:
        """``np.linspace`` in float32."""

    # random
    def rng(self, seed: int | None = None) -> Any:
        """A new generator of the backend (seeded, or from fresh entropy)."""

    def as_rng(self, r: Any) -> Any:
        """``None`` (the process-wide generator), an int seed or a generator -> a generator."""

    def uniform(
        self, rng: Any, shape: Shape, low: float = 0.0, high: float = 1.0, dtype: DType = "float32"
    ) -> Tensor:
        """Uniform draws in ``[low, high)`` from ``as_rng(rng)``."""

    def normal(self, rng: Any, shape: Shape, dtype: DType = "float32") -> Tensor:
        """Standard normal draws from ``as_rng(rng)``."""


class Layers(Protocol):
    """The layer namespace: constructors with canonical parameters (docs/backend-contract.md)."""

    def Dense(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
    ) -> Any:
        """``(..., in) -> (..., out)``; state ``kernel (in, out)``, ``bias (out,)``."""

    def Conv2D(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str = "valid",
        *,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
    ) -> Any:
        """NHWC in and out; state ``kernel (kh, kw, in, out)``, ``bias (out,)``."""

    def LSTM(self, input_size: int, hidden_size: int) -> Any:
        """``out_bth, {"h", "c"} = lstm(x_btf, state or None)``; gates i, f, g, o."""

    def LayerNorm(self, features: int, *, epsilon: float = 1e-5) -> Any:
        """Normalizes the last axis; state ``scale``, ``bias``."""

    def Bias(self, features: int, *, initializer: Any = "zeros") -> Any:
        """``x + bias``, a free parameter vector."""

    def Activation(self, name: str | None) -> Any:
        """An activation by name as a layer."""

    def Flatten(self) -> Any:
        """``(B, ...) -> (B, prod(...))`` in C order."""

    def Sequential(self, layers: Sequence[Any]) -> Any:
        """Chains layers; state ``layers.<i>.<...>``."""

    def List(self, layers: Sequence[Any] = ()) -> Any:
        """A list of layers; state ``<i>.<...>``."""

    def Dict(self, layers: Mapping[str, Any] | None = None) -> Any:
        """A dict of layers; state ``<key>.<...>``."""


@runtime_checkable
class Optimizer(Protocol):
    """What ``Backend.make_optimizer(module, *, lr, grad_clip=None, eps=1e-8)`` returns.

    Adam over the module's trainable parameters (never its target networks). The Learner
    calls ``update`` once per minibatch, reads and sets ``learning_rate`` between updates
    (annealing, no recompilation) and saves ``get_state()`` in its checkpoints.

    Example:
        >>> opt = backend.make_optimizer(module, lr=3e-4, grad_clip=0.5)
        >>> opt.update(lambda m, b: (loss_of(m, b), {}), batch)["grad_norm"]
        0.31...
    """

    learning_rate: float

    def update(self, loss_fn: Callable[[Any, Any], tuple[Any, dict[str, Any]]], batch: Any) -> dict[str, float]:
        """Calls ``loss, metrics = loss_fn(module, batch)`` in train mode with gradients, clips
        the global gradient norm to ``grad_clip``, steps, and returns ``{"loss", "grad_norm"
        (before clipping), **metrics}`` as Python floats."""

    def get_state(self) -> dict[str, Any]:
        """The full optimizer state (moments, step count) as flat NumPy arrays."""

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores a ``get_state()`` result, so that the following updates are the same."""


def _contract_functions(protocol: type) -> dict[str, inspect.Signature]:
    """Signatures of a protocol's methods without ``self``, in definition order."""
    out = {}
    for name, fn in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        sig = inspect.signature(fn)
        out[name] = sig.replace(parameters=list(sig.parameters.values())[1:])
    return out


_OPS = _contract_functions(Ops)
_LAYERS = _contract_functions(Layers)
#: The names every backend's ``ops`` provides (47).
OPS_NAMES: tuple[str, ...] = tuple(_OPS)
#: The layer constructors every backend's ``nn`` provides, besides ``nn.Block``.
LAYER_NAMES: tuple[str, ...] = tuple(_LAYERS)
#: Attributes of a ``Backend`` object and what each must be.
BACKEND_ATTRIBUTES: dict[str, str] = {
    "name": "a str",
    "RLModule": "a class marked _rlm_kind == 'module' (a subclass of rlmodule_core.RLModule)",
    "Block": "a class marked _rlm_kind == 'block' (a subclass of rlmodule_core.nn.Block)",
    "ops": "the ops namespace",
    "nn": "the layer namespace",
    "is_tensor": "a method",
    "make_target_network": "a method",
    "update_target_network": "a method",
    "compile": "a method",
    "make_optimizer": "a method",
    "set_threads": "a method",
    "seed": "a method",
}

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


class BackendContractError(TypeError):
    """A backend or optimizer does not provide what the contract asks for."""


def _describe(sig: inspect.Signature) -> str:
    parts, star = [], False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return f"({', '.join(parts)})"


def check_signature(fn: Any, expected: inspect.Signature) -> str | None:
    """Why ``fn`` cannot be called as ``expected`` says, or ``None`` when it can.

    Every parameter of ``expected`` must exist under the same name, in the same order for
    positional ones, with the same default (neutral code passes them by name and relies on
    the defaults). Extra parameters need a default. A callable whose signature cannot be
    read, or that takes only ``*args, **kwargs`` (a wrapper), is accepted: the conformance
    suite checks it by calling it.
    """
    try:
        actual = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(actual.parameters.values())
    if params and all(p.kind in _VARIADIC for p in params):
        return None
    by_name = {p.name: p for p in params}
    positional = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    wanted_positional = [
        p.name for p in expected.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    problems = []
    if positional[: len(wanted_positional)] != wanted_positional and not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        problems.append(f"positional parameters {positional} should start with {wanted_positional}")
    for want in expected.parameters.values():
        got = by_name.get(want.name)
        if got is None:
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                problems.append(f"no parameter {want.name!r}")
            continue
        if got.kind is inspect.Parameter.POSITIONAL_ONLY:
            problems.append(f"{want.name!r} must be passable by name")
        if got.default != want.default and got.default is not want.default:
            shown = "none" if got.default is inspect.Parameter.empty else repr(got.default)
            wanted = "none" if want.default is inspect.Parameter.empty else repr(want.default)
            problems.append(f"{want.name!r} has default {shown}, expected {wanted}")
    for p in params:
        if p.name not in expected.parameters and p.kind not in _VARIADIC and p.default is inspect.Parameter.empty:
            problems.append(f"extra required parameter {p.name!r}")
    if not problems:
        return None
    return f"expected {_describe(expected)}, found {_describe(actual)}: {'; '.join(problems)}"


def _constructor(cls: Any) -> Any:
    """A callable carrying the signature of ``cls(...)``: ``__init__`` without ``self``.

    ``inspect.signature(cls)`` would read a metaclass ``__call__`` (Flax NNX shows
    ``*args, **kwargs``), so classes are read through their ``__init__``.
    """
    if not isinstance(cls, type):
        return cls
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return cls
    params = list(sig.parameters.values())
    if params and params[0].kind is not inspect.Parameter.VAR_POSITIONAL:
        params = params[1:]

    def constructor() -> None:
        """Carries the signature only."""

    constructor.__signature__ = sig.replace(parameters=params)
    return constructor


def check_backend(backend: Any) -> list[str]:
    """Every way ``backend`` misses the contract, as sentences; empty when it conforms.

    Checks the ``Backend`` attributes, that ``backend.ops`` has the 47 ops with
    compatible signatures (``Ops``) and that ``backend.nn`` has the layers
    (``Layers``) and ``Block``. Values are the conformance suite's job.

    Example:
        >>> problems = check_backend(my_backend)
        >>> problems
        ["ops.logsumexp is missing", "ops.split: expected (x, indices_or_sections, axis=-1), ..."]
    """
    problems: list[str] = []
    for attr, what in BACKEND_ATTRIBUTES.items():
        value = getattr(backend, attr, None)
        if value is None:
            problems.append(f"Backend.{attr} is missing (expected {what})")
        elif attr == "name" and not isinstance(value, str):
            problems.append(f"Backend.name must be a str; received {value!r}")
        elif attr in ("RLModule", "Block") and getattr(value, "_rlm_kind", None) != attr.replace("RLModule", "module").lower():
            problems.append(f"Backend.{attr} must be {what}; received {value!r}")
        elif attr not in ("name", "ops", "nn", "RLModule", "Block") and not callable(value):
            problems.append(f"Backend.{attr} must be {what}; received {type(value).__name__}")
    ops, nn = getattr(backend, "ops", None), getattr(backend, "nn", None)
    if ops is not None:
        for name, expected in _OPS.items():
            problems.extend(_check_member(ops, "ops", name, expected, unwrap=False))
    if nn is not None:
        for name, expected in _LAYERS.items():
            problems.extend(_check_member(nn, "nn", name, expected, unwrap=True))
        block = getattr(nn, "Block", None)
        if block is None:
            problems.append("nn.Block is missing (the backend's base for neutral blocks)")
    return problems


def _check_member(namespace: Any, label: str, name: str, expected: inspect.Signature, *, unwrap: bool) -> list[str]:
    member = getattr(namespace, name, None)
    if member is None:
        return [f"{label}.{name} is missing; expected {name}{_describe(expected)}"]
    if not callable(member):
        return [f"{label}.{name} must be callable; received {type(member).__name__}"]
    why = check_signature(_constructor(member) if unwrap else member, expected)
    return [] if why is None else [f"{label}.{name}: {why}"]


def check_optimizer(optimizer: Any, backend_name: str = "?") -> None:
    """Raises ``BackendContractError`` unless ``optimizer`` has the ``Optimizer`` members.

    Example:
        >>> check_optimizer(backend.make_optimizer(module, lr=1e-3), backend.name)
    """
    missing = [
        name for name in ("update", "get_state", "set_state") if not callable(getattr(optimizer, name, None))
    ]
    if not hasattr(type(optimizer), "learning_rate") and not hasattr(optimizer, "learning_rate"):
        missing.append("learning_rate")
    if missing:
        raise BackendContractError(
            f"The {backend_name!r} backend's make_optimizer returned {type(optimizer).__name__}, which "
            f"lacks {', '.join(missing)}. Expected the rlmodule_core.backend.contract.Optimizer "
            "protocol: update(loss_fn, batch) -> dict, a settable learning_rate, get_state() and "
            "set_state(state)."
        )
