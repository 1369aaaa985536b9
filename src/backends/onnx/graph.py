"""The graph being traced: symbolic tensors, run-time dimensions and the node builder.

A neutral module's forward pass runs once on ``Sym`` tensors. Every ``ops`` call and
every layer appends ONNX nodes to the active ``Graph`` and returns a new ``Sym`` with
its dtype and shape worked out in Python, so neutral code that asks ``ops.shape(x)`` gets
an answer. Dimensions that are only known at run time (the batch and time axes) are
``Dim`` objects: they can be multiplied and passed to ``ops.reshape``, and become
``Shape`` nodes only where a run-time shape is really needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

__all__ = ["Dim", "Graph", "OnnxExportError", "Sym", "current_graph"]


class OnnxExportError(ValueError):
    """A module (or an op it calls) cannot be written as an ONNX graph."""


# ---- run-time dimensions ---------------------------------------------------------------------


class Dim:
    """A dimension known only at run time: a product of named axes times a constant.

    ``parts`` holds ``(key, tensor name, axis)`` of each named axis (``"batch"``,
    ``"time"``, or a generated key for an axis whose size the trace could not name), so
    the value can be read back with a ``Shape`` node on that tensor.
    """

    __slots__ = ("parts", "scale")

    def __init__(self, parts: Sequence[tuple[str, str, int]], scale: int = 1) -> None:
        self.parts = tuple(sorted(parts))
        self.scale = int(scale)

    @property
    def key(self) -> str:
        """A readable identity, also the ``dim_param`` of graph inputs and outputs."""
        names = "*".join(key for key, _, _ in self.parts)
        return names if self.scale == 1 else f"{self.scale}*{names}"

    def __mul__(self, other: Any) -> Dim:
        if isinstance(other, Dim):
            return Dim(self.parts + other.parts, self.scale * other.scale)
        if isinstance(other, int | np.integer) and not isinstance(other, bool):
            return Dim(self.parts, self.scale * int(other))
        return NotImplemented

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dim) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def _fail(self, *_: Any) -> Any:
        raise OnnxExportError(
            f"The {self.key!r} dimension is only known when the graph runs, so it cannot be "
            "used as a Python number while exporting (e.g. in range(), an if, or a NumPy "
            "shape). Keep it inside ops (ops.reshape accepts it), or use a fixed size."
        )

    __index__ = __int__ = __bool__ = __add__ = __radd__ = __sub__ = __rsub__ = _fail
    __floordiv__ = __truediv__ = __lt__ = __le__ = __gt__ = __ge__ = _fail

    def __repr__(self) -> str:
        return f"Dim({self.key})"


def same_dim(a: Any, b: Any) -> bool:
    """Whether two dimensions (ints or Dims) are known to be equal."""
    if isinstance(a, Dim) or isinstance(b, Dim):
        return isinstance(a, Dim) and isinstance(b, Dim) and a.key == b.key
    return int(a) == int(b)


# ---- dtypes ---------------------------------------------------------------------------------


def onnx_dtype(dtype: Any) -> int:
    """The TensorProto element type of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def result_dtype(*dtypes: Any) -> np.dtype:
    """NumPy's promotion, except that float64 becomes float32 (as on every backend)."""
    dt = np.result_type(*dtypes)
    return np.dtype(np.float32) if dt == np.float64 else dt


# ---- symbolic tensors -----------------------------------------------------------------------


class Sym:
    """A tensor of the graph being traced: a value name, a dtype and a shape.

    Supports the Python operators neutral code uses (``+ - * / ** @``, comparisons,
    unary minus, basic indexing); each appends a node. Using its value in Python
    (``if x > 0:``, ``float(x)``, ``np.asarray(x)``) raises ``OnnxExportError``.
    """

    __array_ufunc__ = None  # NumPy arrays defer to Sym's reflected operators.
    __array_priority__ = 1000

    def __init__(self, graph: Graph, name: str, dtype: Any, shape: Sequence[Any]) -> None:
        self.graph = graph
        self.name = name
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        #: For an NHWC tensor made by transposing an NCHW one: that tensor (see nn.Conv2D).
        self.nchw: Sym | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        dims = ", ".join(d.key if isinstance(d, Dim) else str(d) for d in self.shape)
        return f"Sym({self.name!r}, {self.dtype}, ({dims}))"

    # Arithmetic goes through ops so that there is one place per node type.
    def _binary(self, op: str, other: Any, reflected: bool = False) -> Sym:
        from . import ops

        a, b = (other, self) if reflected else (self, other)
        return ops.binary(op, a, b)

    def __add__(self, other: Any) -> Sym:
        return self._binary("Add", other)

    def __radd__(self, other: Any) -> Sym:
        return self._binary("Add", other, True)

    def __sub__(self, other: Any) -> Sym:
        return self._binary("Sub", other)

    def __rsub__(self, other: Any) -> Sym:
        return self._binary("Sub", other, True)

    def __mul__(self, other: Any) -> Sym:
        return self._binary("Mul", other)

    def __rmul__(self, other: Any) -> Sym:
        return self._binary("Mul", other, True)

    def __truediv__(self, other: Any) -> Sym:
        return self._binary("Div", other)

    def __rtruediv__(self, other: Any) -> Sym:
        return self._binary("Div", other, True)

    def __pow__(self, other: Any) -> Sym:
        return self._binary("Pow", other)

    def __matmul__(self, other: Any) -> Sym:
        return self._binary("MatMul", other)

    def __rmatmul__(self, other: Any) -> Sym:
        return self._binary("MatMul", other, True)

    def __lt__(self, other: Any) -> Sym:
        return self._binary("Less", other)

    def __le__(self, other: Any) -> Sym:
        return self._binary("LessOrEqual", other)

    def __gt__(self, other: Any) -> Sym:
        return self._binary("Greater", other)

    def __ge__(self, other: Any) -> Sym:
        return self._binary("GreaterOrEqual", other)

    def __and__(self, other: Any) -> Sym:
        return self._binary("And", other)

    def __or__(self, other: Any) -> Sym:
        return self._binary("Or", other)

    def __neg__(self) -> Sym:
        from . import ops

        return ops.unary("Neg", self)

    def __invert__(self) -> Sym:
        from . import ops

        return ops.unary("Not", self)

    def __getitem__(self, index: Any) -> Sym:
        from . import ops

        return ops.getitem(self, index)

    def _value_error(self, *_: Any) -> Any:
        raise self.graph.error(
            "using a traced tensor's value in Python",
            "its value exists only when the graph runs (an `if` on a tensor, float(x), "
            "len(x) or iterating over it). Express the choice with ops.where, or compute "
            "it from static shapes",
        )

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = _value_error

    def __array__(self, *_: Any, **__: Any) -> Any:
        raise self.graph.error(
            "converting a traced tensor to NumPy",
            "its value exists only when the graph runs. Keep the computation in ops",
        )

    __hash__ = object.__hash__


# ---- the builder ------------------------------------------------------------------------------

_active: contextvars.ContextVar[Graph | None] = contextvars.ContextVar("rlmodule_onnx_graph", default=None)


def current_graph(what: str = "") -> Graph:
    """The graph being traced; ``what`` (e.g. ``"ops.zeros"``) names the caller in the error.

    Raises:
        OnnxExportError: no export is running (the onnx backend only builds graphs).
    """
    graph = _active.get()
    if graph is None:
        raise OnnxExportError(
            f"The onnx backend builds graphs and computes nothing{f' ({what})' if what else ''}. "
            "Export a module with rlmodule_core.export_onnx(module, 'policy.onnx') and run "
            "the file with ONNX Runtime, or build the module with framework='numpy'."
        )
    return graph


class Graph:
    """Collects nodes and initializers while a module is traced.

    Args:
        opset: the ONNX opset of the default domain to write.
        param_names: ``{id(array): state key}``: parameters become initializers named
            after their canonical state keys.
        layer_names: ``{id(layer): dotted path}``: node names start with the layer's path
            and errors name the layer.
    """

    def __init__(self, opset: int, param_names: dict[int, str], layer_names: dict[int, str]) -> None:
        self.opset = int(opset)
        self.nodes: list[NodeProto] = []
        self.initializers: dict[str, TensorProto] = {}
        self._param_names = param_names
        self._layer_names = layer_names
        self._params: dict[tuple[int, str], str] = {}
        self._constants: dict[tuple, str] = {}
        self._shapes: dict[tuple[str, int], str] = {}
        self._used: set[str] = set()
        self._counts: dict[str, int] = {}
        self._node_names: dict[str, int] = {}
        self._scopes: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def active(self) -> Iterator[Graph]:
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    # ---- names and scopes ----------------------------------------------------------------
    def unique(self, hint: str) -> str:
        count = self._counts.get(hint, 0)
        self._counts[hint] = count + 1
        name = hint if count == 0 and hint not in self._used else f"{hint}_{count}"
        while name in self._used:
            count += 1
            name = f"{hint}_{count}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Claims a name (a graph input) so that no node output takes it."""
        if name in self._used:
            raise OnnxExportError(f"Two graph inputs would both be named {name!r}; rename one.")
        self._used.add(name)

    @contextlib.contextmanager
    def scope(self, layer: Any) -> Iterator[None]:
        """Nodes created inside are named after ``layer``'s path in the module."""
        path = self._layer_names.get(id(layer), type(layer).__name__)
        self._scopes.append((path, type(layer).__qualname__))
        try:
            yield
        finally:
            self._scopes.pop()

    @property
    def scope_path(self) -> str:
        return self._scopes[-1][0] if self._scopes else "module"

    def error(self, what: str, why: str) -> OnnxExportError:
        """An export error naming the operation and the layer that asked for it."""
        path, cls = self._scopes[-1] if self._scopes else ("module", "the module's forward")
        return OnnxExportError(
            f"Cannot export {what} to ONNX: {why}. It was called in layer {path!r} ({cls}). "
            "Change that layer (or the module's forward) so that the exported phase avoids it, "
            "or run the module with framework='numpy' instead of exporting it."
        )

    def unsupported(self, op: str, why: str) -> OnnxExportError:
        return self.error(f"ops.{op}", why)

    # ---- nodes -------------------------------------------------------------------------------
    def add(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> list[str]:
        """Appends a node of the default domain; returns its output names."""
        stem = f"{self.scope_path}/{op}"
        outputs = [self.unique(stem if n_out == 1 else f"{stem}:{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op, list(inputs), outputs, name=self.node_name(stem), **attrs))
        return outputs

    def node_name(self, stem: str) -> str:
        """A unique node name (node names are a namespace of their own, apart from values)."""
        count = self._node_names.get(stem, 0)
        self._node_names[stem] = count + 1
        return stem if count == 0 else f"{stem}_{count}"

    def sym(self, name: str, dtype: Any, shape: Sequence[Any]) -> Sym:
        return Sym(self, name, dtype, shape)

    def emit(self, op: str, inputs: Sequence[Any], dtype: Any, shape: Sequence[Any], **attrs: Any) -> Sym:
        """One node with one output, returned as a Sym of ``dtype`` and ``shape``."""
        names = [x.name if isinstance(x, Sym) else x for x in inputs]
        (out,) = self.add(op, names, 1, **attrs)
        return self.sym(out, dtype, shape)

    def rename_output(self, old: str, new: str) -> bool:
        """Renames a node output (and its uses) to a graph output name, if a node made it."""
        producer = next((n for n in self.nodes if old in n.output), None)
        if producer is None or new in self._used:
            return False
        self._used.add(new)
        for node in self.nodes:
            for seq in (node.input, node.output):
                for i, name in enumerate(seq):
                    if name == old:
                        seq[i] = new
        return True

    # ---- initializers -----------------------------------------------------------------------
    def param(self, array: np.ndarray, transform: Any = None, suffix: str = "") -> str:
        """An initializer for a layer parameter, named after its state key.

        ``transform`` (with a ``suffix`` for the name) stores a re-laid-out copy, e.g.
        an LSTM kernel in ONNX's gate order.
        """
        cache = (id(array), suffix)
        name = self._params.get(cache)
        if name is not None:
            return name
        key = self._param_names.get(id(array), f"{self.scope_path}.param")
        value = np.asarray(array if transform is None else transform(array))
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        name = self.unique(f"{key}{suffix}")
        self.initializers[name] = numpy_helper.from_array(value.copy(order="C"), name)
        self._params[cache] = name
        return name

    def const(self, value: Any, dtype: Any = None, hint: str = "const") -> Sym:
        """A constant initializer (cached by value)."""
        array = np.asarray(value, dtype=dtype)
        if dtype is None and array.dtype == np.float64:
            array = array.astype(np.float32)
        cache = (array.dtype.str, array.shape, array.tobytes())
        name = self._constants.get(cache)
        if name is None:
            name = self.unique(hint)
            self.initializers[name] = numpy_helper.from_array(array.copy(order="C"), name)
            self._constants[cache] = name
        return self.sym(name, array.dtype, array.shape)

    def ints(self, values: Sequence[int], hint: str = "axes") -> str:
        """The name of an int64 vector constant (axes, shapes, split sizes)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint=hint).name

    # ---- run-time shapes ------------------------------------------------------------------
    def dim_value(self, dim: Any) -> str:
        """The name of an int64 [1] tensor holding ``dim`` at run time."""
        if not isinstance(dim, Dim):
            return self.ints([int(dim)], "shape")
        names = []
        for _, tensor, axis in dim.parts:
            cached = self._shapes.get((tensor, axis))
            if cached is None:
                (cached,) = self.add("Shape", [tensor], start=axis, end=axis + 1)
                self._shapes[(tensor, axis)] = cached
            names.append(cached)
        if dim.scale != 1:
            names.append(self.ints([dim.scale], "shape"))
        value = names[0]
        for other in names[1:]:
            (value,) = self.add("Mul", [value, other])
        return value

    def shape_value(self, shape: Sequence[Any]) -> str:
        """The name of an int64 tensor holding ``shape`` (ints and Dims) at run time."""
        if not any(isinstance(d, Dim) for d in shape):
            return self.ints([int(d) for d in shape], "shape")
        pieces: list[str] = []
        static: list[int] = []
        for d in shape:
            if isinstance(d, Dim):
                if static:
                    pieces.append(self.ints(static, "shape"))
                    static = []
                pieces.append(self.dim_value(d))
            else:
                static.append(int(d))
        if static:
            pieces.append(self.ints(static, "shape"))
        (out,) = self.add("Concat", pieces, axis=0)
        return out

    def fresh_dim(self, tensor: str, axis: int) -> Dim:
        """A run-time dimension read from ``tensor``'s ``axis`` (when the trace cannot name it)."""
        return Dim([(f"{tensor}[{axis}]", tensor, axis)])


def static_size(shape: Sequence[Any]) -> tuple[int, list[Dim]]:
    """``(product of the int dims, list of the Dims)``."""
    dims = [d for d in shape if isinstance(d, Dim)]
    return math.prod(int(d) for d in shape if not isinstance(d, Dim)), dims


def value_info(name: str, dtype: Any, shape: Sequence[Any], doc: str = "") -> Any:
    """A graph input/output description; run-time dims become named ``dim_param``s."""
    dims = [d.key if isinstance(d, Dim) else int(d) for d in shape]
    info = helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)
    if doc:
        info.doc_string = doc
    return info
