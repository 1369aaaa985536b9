"""PRNG keys behind the ``ops`` random contract: ``rng``, ``as_rng``, and the trace context.

NumPy and torch draw from stateful generators; JAX draws from explicit keys. ``KeyStream``
bridges the two: it holds a key and splits it on every draw, so neutral code can call
``ops.uniform(rng, shape)`` repeatedly and get fresh numbers.

Two kinds of stream exist:

- **stateful** streams (``ops.rng(seed)`` and the process-wide default ``as_rng(None)``)
  live across calls. Advancing one inside ``jax.jit``/``nnx.grad`` would store a tracer in
  a long-lived object, so doing that raises a ``RuntimeError`` that says to pass a key.
- **functional** streams wrap a key passed in (``as_rng(jax.random.key(0))``) or an int
  seed. They may be advanced inside traced code: a stream made from the same key gives
  the same draws, as JAX users expect.

The compiled forward passes (``compile.py``) install a per-call key with
``trace_stream``: inside them ``as_rng(None)`` returns a functional stream over a key
that changes on every call, so exploration stays random under ``jax.jit``.

Example:
    >>> from rlmodule_jax import ops
    >>> r = ops.rng(0)                      # stateful: successive draws differ
    >>> a, b = ops.uniform(r, (2,)), ops.uniform(r, (2,))
    >>> key = jax.random.key(1)             # functional: same key, same draws
    >>> bool((ops.uniform(key, (2,)) == ops.uniform(key, (2,))).all())
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["as_stream", "default_stream", "seed_default", "is_key", "KeyStream", "new_stream", "trace_stream", "TraceRng"]


@jax.jit
def _split(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    # One dispatch for (next state, subkey); indexing an eager split costs two more.
    keys = jax.random.split(key)
    return keys[0], keys[1]


def is_key(x: Any) -> bool:
    """Whether ``x`` is a JAX PRNG key: a typed key (``jax.random.key``) or a legacy
    uint32 ``(2,)`` key (``jax.random.PRNGKey``)."""
    if not isinstance(x, jax.Array):
        return False
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x.ndim == 0
    return x.dtype == jnp.uint32 and x.shape == (2,)


class KeyStream:
    """A PRNG key that splits on every draw (the JAX "generator" of ``ops``).

    Args:
        key: the starting key (typed or legacy uint32).
        stateful: a long-lived stream (``ops.rng``); it refuses to advance inside traced
            code, where it would keep a tracer after the trace ends.

    Example:
        >>> stream = KeyStream(jax.random.key(0))
        >>> k1, k2 = stream.next_key(), stream.next_key()   # two different subkeys
    """

    def __init__(self, key: jax.Array, *, stateful: bool = False) -> None:
        self.key = key
        self.stateful = stateful

    def next_key(self) -> jax.Array:
        """A fresh subkey; advances the stream."""
        new, sub = _split(self.key)
        if self.stateful and isinstance(new, jax.core.Tracer):
            raise RuntimeError(
                "A stateful JAX generator (ops.rng(...) or the default rng=None) was advanced "
                "inside jax.jit / nnx.grad / another JAX transformation, where it would keep a "
                "tracer after the trace ends. Received a traced key. Pass an explicit key "
                "instead, e.g. rng=jax.random.key(seed) (split it per step), or use "
                "backend.compile(module), whose forward passes supply a fresh key per call."
            )
        self.key = new
        return sub

    def split(self) -> KeyStream:
        """A new independent functional stream; advances this one."""
        return KeyStream(self.next_key())

    def __repr__(self) -> str:
        kind = "stateful" if self.stateful else "functional"
        return f"KeyStream({kind})"


def _tree_flatten(stream: KeyStream) -> tuple[tuple[jax.Array], bool]:
    return (stream.key,), stream.stateful


def _tree_unflatten(stateful: bool, children: tuple[jax.Array]) -> KeyStream:
    # A stream rebuilt inside a trace holds a traced key: it must be functional.
    return KeyStream(children[0], stateful=False)


# A registered pytree: a stream passed into a compiled forward becomes a functional
# stream over a traced key (compile.py gives it a fresh subkey of the caller's stream).
jax.tree_util.register_pytree_node(KeyStream, _tree_flatten, _tree_unflatten)


def _key_from_seed(seed: int) -> jax.Array:
    return jax.random.key(seed)


def new_stream(seed: int | None) -> KeyStream:
    """A stateful stream; ``seed=None`` seeds it from fresh OS entropy."""
    if seed is None:
        seed = secrets.randbits(63)
    return KeyStream(_key_from_seed(int(seed)), stateful=True)


# ---- the key a compiled forward pass hands to ``as_rng(None)`` ----------------------------


class TraceRng:
    """What ``as_rng(None)`` uses while a compiled forward pass is traced.

    ``key`` is the traced per-call key (None in the variant traced without one: then
    ``used`` records that the function needs a key, and compile.py re-traces it with one).
    """

    def __init__(self, key: jax.Array | None) -> None:
        self.key = key
        self.used = False
        self._stream: KeyStream | None = None

    def stream(self) -> KeyStream:
        self.used = True
        if self._stream is None:
            # Without a key this trace is thrown away (see compile.py); any key will do.
            key = self.key if self.key is not None else jax.random.key(0)
            self._stream = KeyStream(key)
        return self._stream


_TRACE_RNG: contextvars.ContextVar[TraceRng | None] = contextvars.ContextVar(
    "rlmodule_jax_trace_rng", default=None
)


@contextlib.contextmanager
def trace_stream(trace_rng: TraceRng) -> Iterator[TraceRng]:
    """Makes ``as_rng(None)`` draw from ``trace_rng`` inside a compiled forward."""
    token = _TRACE_RNG.set(trace_rng)
    try:
        yield trace_rng
    finally:
        _TRACE_RNG.reset(token)


_default: KeyStream | None = None


def seed_default(seed: int) -> None:
    """Reseeds the process default stream of ``as_rng(None)`` (``JaxBackend.seed``)."""
    global _default
    _default = new_stream(seed)


def default_stream() -> KeyStream:
    """The stream of ``as_rng(None)``: the compiled pass's key, else the process default."""
    trace_rng = _TRACE_RNG.get()
    if trace_rng is not None:
        return trace_rng.stream()
    global _default
    if _default is None:
        _default = new_stream(None)
    return _default


def as_stream(r: Any) -> KeyStream:
    """See ``ops.as_rng``."""
    if r is None:
        return default_stream()
    if isinstance(r, KeyStream):
        return r
    if isinstance(r, int | np.integer) and not isinstance(r, bool | np.bool_):
        return KeyStream(_key_from_seed(int(r)))
    if is_key(r):
        return KeyStream(r)
    if isinstance(r, jax.Array) and r.ndim == 0 and jnp.issubdtype(r.dtype, jnp.integer):
        # An int seed traced by jax.jit (compiled forwards trace numeric arguments).
        return KeyStream(jax.random.key(r))
    raise ValueError(
        "Expected None, an int seed, a JAX PRNG key (jax.random.key(seed)) or a generator "
        f"made by ops.rng(seed); received {r!r:.80} of type {type(r).__name__}. Pass rng=None "
        "for the default generator, an int to seed a new one, or a key."
    )
