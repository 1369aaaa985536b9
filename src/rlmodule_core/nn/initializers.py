"""Parameter initialization, done once in NumPy for every backend.

Every backend's layers take their initial parameters from the functions here, drawn
from the generator of the module being built. So the same ``model_config["seed"]``
gives bit-identical weights on torch, TF, JAX and NumPy, and a module built on one
framework matches its twin built on another without copying any state.

Initializers are named (JSON-friendly, so they live in ``model_config``):
``"glorot_uniform"`` (alias ``"xavier_uniform"``), ``"glorot_normal"``,
``"he_uniform"`` (``"kaiming_uniform"``), ``"he_normal"``, ``"lecun_uniform"``,
``"lecun_normal"``, ``"orthogonal"``, ``"uniform"``, ``"normal"``,
``"truncated_normal"``, ``"zeros"``, ``"ones"``, ``"constant"``; or a dict
``{"name": "orthogonal", "gain": 0.01}``; or a callable
``f(shape, fan_in, fan_out, rng) -> np.ndarray``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rlmodule_core.backend.scope import current_scope, initialization_skipped

__all__ = [
    "ACTIVATIONS",
    "check_activation",
    "conv2d_params",
    "dense_params",
    "initialize",
    "layer_norm_params",
    "lstm_params",
    "normalize_kernel_size",
    "SUPPORTED",
]

InitSpec = str | Mapping[str, Any] | Callable[..., np.ndarray] | None



def _rng() -> np.random.Generator:
    scope = current_scope()
    return scope.rng if scope is not None else np.random.default_rng()


def _uniform(limit: float):
    return lambda shape, rng: rng.uniform(-limit, limit, size=shape)


def _orthogonal(shape: tuple[int, ...], gain: float, rng: np.random.Generator) -> np.ndarray:
    # Flatten all leading axes into rows (conv kernels are (kh, kw, in, out)).
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    cols = shape[-1]
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, hence uniformly distributed
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols].reshape(shape)


def _truncated_normal(shape, std, rng):
    out = rng.normal(0.0, 1.0, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * std / 0.87962566103423978  # std of a standard normal truncated at +-2


_NAMES = {
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
}
SUPPORTED = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "orthogonal", "uniform", "normal", "truncated_normal", "zeros",
    "ones", "constant",
)


def initialize(
    spec: InitSpec,
    shape: tuple[int, ...],
    *,
    fan_in: int,
    fan_out: int,
    default: InitSpec = "glorot_uniform",
    dtype: str = "float32",
) -> np.ndarray:
    """Draws an initial parameter of ``shape`` from the current build scope's generator.

    Example:
        >>> initialize({"name": "orthogonal", "gain": 0.01}, (64, 2), fan_in=64, fan_out=2)
    """
    if initialization_skipped():
        return np.zeros(shape, dtype=dtype)
    if spec is None:
        spec = default
    rng = _rng()
    if callable(spec):
        return np.asarray(spec(shape, fan_in, fan_out, rng), dtype=dtype)
    if isinstance(spec, Mapping):
        kwargs = dict(spec)
        try:
            name = kwargs.pop("name")
        except KeyError:
            raise ValueError(
                f"An initializer dict needs a 'name' key; received {dict(spec)!r}. "
                "Example: {'name': 'orthogonal', 'gain': 0.01}."
            ) from None
    elif isinstance(spec, str):
        name, kwargs = spec, {}
    else:
        raise ValueError(
            "Expected an initializer name, a dict with 'name', a callable or None; "
            f"received {spec!r}."
        )
    name = _NAMES.get(name.lower(), name.lower())
    try:
        value = _draw(name, kwargs, tuple(shape), fan_in, fan_out, rng)
    except TypeError as err:
        raise ValueError(f"Bad arguments {kwargs!r} for initializer {name!r}: {err}") from None
    return np.asarray(value, dtype=dtype)


def _draw(name, kwargs, shape, fan_in, fan_out, rng):
    gain = kwargs.pop("gain", 1.0)
    if name == "glorot_uniform":
        return gain * _uniform(math.sqrt(6.0 / (fan_in + fan_out)))(shape, rng)
    if name == "glorot_normal":
        return _truncated_normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)
    if name == "he_uniform":
        return gain * _uniform(math.sqrt(6.0 / fan_in))(shape, rng)
    if name == "he_normal":
        return _truncated_normal(shape, gain * math.sqrt(2.0 / fan_in), rng)
    if name == "lecun_uniform":
        return gain * _uniform(math.sqrt(3.0 / fan_in))(shape, rng)
    if name == "lecun_normal":
        return _truncated_normal(shape, gain * math.sqrt(1.0 / fan_in), rng)
    if name == "orthogonal":
        return _orthogonal(shape, gain, rng)
    if name == "uniform":
        low, high = kwargs.pop("low", -0.05), kwargs.pop("high", 0.05)
        _no_more(name, kwargs)
        return rng.uniform(low, high, size=shape)
    if name == "normal":
        mean, std = kwargs.pop("mean", 0.0), kwargs.pop("std", 0.05)
        _no_more(name, kwargs)
        return rng.normal(mean, std, size=shape)
    if name == "truncated_normal":
        std = kwargs.pop("std", 0.05)
        _no_more(name, kwargs)
        return _truncated_normal(shape, std, rng)
    if name == "zeros":
        return np.zeros(shape)
    if name == "ones":
        return np.ones(shape)
    if name == "constant":
        value = kwargs.pop("value", 0.0)
        _no_more(name, kwargs)
        return np.full(shape, value)
    raise ValueError(
        f"Unknown initializer {name!r}. Expected one of: {', '.join(SUPPORTED)} "
        f"(or the aliases {', '.join(_NAMES)})."
    )


def _no_more(name: str, kwargs: dict) -> None:
    if kwargs:
        raise ValueError(f"Initializer {name!r} got unknown arguments {sorted(kwargs)}.")


# ---- canonical parameter sets, drawn in a fixed order on every backend ------------------


def dense_params(
    in_features: int,
    out_features: int,
    *,
    use_bias: bool = True,
    kernel_initializer: InitSpec = None,
    bias_initializer: InitSpec = None,
) -> dict[str, np.ndarray]:
    """``{"kernel": (in, out), "bias": (out,)}``."""
    params = {
        "kernel": initialize(
            kernel_initializer, (in_features, out_features), fan_in=in_features, fan_out=out_features
        )
    }
    if use_bias:
        params["bias"] = initialize(
            bias_initializer, (out_features,), fan_in=in_features, fan_out=out_features,
            default="zeros",
        )
    return params


def conv2d_params(
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, int],
    *,
    use_bias: bool = True,
    kernel_initializer: InitSpec = None,
    bias_initializer: InitSpec = None,
) -> dict[str, np.ndarray]:
    """``{"kernel": (kh, kw, in, out), "bias": (out,)}``."""
    kh, kw = kernel_size
    fan_in, fan_out = kh * kw * in_channels, kh * kw * out_channels
    params = {
        "kernel": initialize(
            kernel_initializer, (kh, kw, in_channels, out_channels), fan_in=fan_in, fan_out=fan_out
        )
    }
    if use_bias:
        params["bias"] = initialize(
            bias_initializer, (out_channels,), fan_in=fan_in, fan_out=fan_out, default="zeros"
        )
    return params


def lstm_params(input_size: int, hidden_size: int) -> dict[str, np.ndarray]:
    """``kernel (in, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``; gates i, f, g, o.

    Kernel glorot-uniform, recurrent kernel orthogonal per gate, bias zero except the
    forget gate at 1 (the usual choice that lets gradients through early in training).
    """
    h = hidden_size
    kernel = initialize(None, (input_size, 4 * h), fan_in=input_size, fan_out=4 * h)
    recurrent = np.concatenate(
        [initialize("orthogonal", (h, h), fan_in=h, fan_out=h) for _ in range(4)], axis=1
    )
    bias = np.zeros((4 * h,), dtype="float32")
    bias[h : 2 * h] = 1.0
    return {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}


def layer_norm_params(features: int) -> dict[str, np.ndarray]:
    """``{"scale": ones, "bias": zeros}``."""
    return {
        "scale": np.ones((features,), dtype="float32"),
        "bias": np.zeros((features,), dtype="float32"),
    }


def normalize_kernel_size(value: int | tuple[int, int] | list[int], what: str) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; validates a pair of positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"Expected {what} as a positive int or a pair of them; received {value!r}.")
    return pair  # type: ignore[return-value]


ACTIVATIONS = (None, "linear", "relu", "tanh", "sigmoid", "elu", "swish", "silu", "softplus", "leaky_relu")


def check_activation(name: str | None) -> str | None:
    """Returns the canonical activation name (``None`` for linear) or raises ValueError."""
    if name is None:
        return None
    key = name.lower() if isinstance(name, str) else name
    if key not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}. Expected one of: None, "
            + ", ".join(repr(a) for a in ACTIVATIONS[1:])
            + "."
        )
    if key == "linear":
        return None
    return "swish" if key == "silu" else key
