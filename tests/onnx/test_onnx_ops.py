"""The ONNX backend's ops against the NumPy reference, op by op, run by ONNX Runtime.

Each case is a function of an ``ops`` namespace; it runs once on NumPy arrays with the
NumPy backend's ops and once traced on symbolic inputs with a dynamic batch axis, and the
graph is run by ONNX Runtime on the same arrays.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from rlmodule_numpy import ops as np_ops
from rlmodule_onnx import OnnxExportError
from rlmodule_onnx import ops as onnx_ops
from rlmodule_onnx.graph import Dim, Graph, value_info

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 6)).astype(np.float32)
Y = RNG.normal(size=(5, 6)).astype(np.float32)
IDX = RNG.integers(0, 6, size=(5, 1)).astype(np.int64)
BIG = np.array([[1e4, -1e4, 0.0, 3.0, -np.inf, 2.0]] * 5, np.float32)


def _trace(fn, *arrays: np.ndarray, opset: int = 17) -> list[np.ndarray]:
    graph = Graph(opset, {}, {})
    batch = Dim([("batch", "in0", 0)])
    syms, inputs = [], []
    for i, array in enumerate(arrays):
        name = f"in{i}"
        graph.reserve(name)
        shape = (batch, *array.shape[1:])
        syms.append(graph.sym(name, array.dtype, shape))
        inputs.append(value_info(name, array.dtype, shape))
    with graph.active():
        out = fn(onnx_ops, *syms)
    outs = out if isinstance(out, list | tuple) else [out]
    outputs = []
    for k, sym in enumerate(outs):
        graph.nodes.append(helper.make_node("Identity", [sym.name], [f"out{k}"]))
        outputs.append(value_info(f"out{k}", sym.dtype, sym.shape))
    model = helper.make_model(
        helper.make_graph(graph.nodes, "t", inputs, outputs, list(graph.initializers.values())),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = helper.find_min_ir_version_for(model.opset_import)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {f"in{i}": a for i, a in enumerate(arrays)})


CASES = {
    "arithmetic": (lambda o, x, y: 2.0 * x - y / 3.0 + 1 - (-x) ** 2, X, Y),
    "reflected-array": (lambda o, x: np.ones(6, np.float32) - x, X),
    "comparisons": (lambda o, x, y: o.where((x < y) | (x >= 1.0), x, y), X, Y),
    "exp-log-tanh": (lambda o, x: o.log1p(o.exp(o.tanh(x))) + o.sqrt(o.abs(x)) + o.square(x), X),
    "sigmoid-softplus-relu": (lambda o, x: o.sigmoid(x) + o.softplus(x * 50.0) + o.relu(x), X),
    "max-min": (lambda o, x, y: o.maximum(x, y) - o.minimum(x, 0.5), X, Y),
    "clip-scalars": (lambda o, x: o.clip(x, -0.5, 0.5), X),
    "clip-arrays": (lambda o, x, y: o.clip(x, y - 1.0, y + 1.0), X, Y),
    "reductions": (
        lambda o, x: [o.sum(x, axis=-1), o.mean(x, axis=1, keepdims=True), o.max(x, axis=1), o.min(x, axis=-1)], X,
    ),
    "reduce-all": (lambda o, x: o.reshape(o.sum(x * x), (1,)), X),
    "argmax": (lambda o, x: o.argmax(x, axis=-1), X),
    "softmax": (lambda o, x: [o.softmax(x, axis=-1), o.log_softmax(x, axis=-1)], BIG),
    "logsumexp": (lambda o, x: [o.logsumexp(x, axis=-1), o.logsumexp(x, axis=1, keepdims=True)], BIG),
    "split-concat": (lambda o, x: o.concatenate(o.split(x, [1, 4], axis=-1)[::-1], axis=-1), X),
    "split-sections": (lambda o, x: o.split(x, 3, axis=1), X),
    "stack": (lambda o, x, y: o.stack([x, y], axis=1), X, Y),
    "squeeze-expand": (lambda o, x: o.squeeze(o.expand_dims(x, 1), 1) + o.expand_dims(x, -1)[..., 0], X),
    "reshape-batch": (lambda o, x: o.reshape(o.reshape(x, (-1, 2, 3)), (o.shape(x)[0], 6)), X),
    "reshape-flat": (lambda o, x: o.reshape(x, (o.shape(x)[0] * 6,)), X),
    "broadcast": (lambda o, x: o.broadcast_to(o.expand_dims(x, 0), (2, o.shape(x)[0], 6)), X),
    "indexing": (lambda o, x: [x[:, 2], x[:, 1:4], x[..., -1], x[:, ::2]], X),
    "take-along-axis": (lambda o, x, i: o.take_along_axis(x, i, axis=-1), X, IDX),
    "one-hot-out-of-range": (lambda o, i: o.one_hot(i[:, 0] - 2, 4), IDX),
    "cast": (lambda o, x: o.cast(o.cast(x * 3.0, "int64"), "float32"), X),
    "creation": (
        lambda o, x: [o.zeros_like(x) + o.ones((6,)), o.full((o.shape(x)[0], 2), 7.0), o.arange(4) * 2,
                      o.linspace(-1.0, 1.0, 5), o.zeros((o.shape(x)[0],), "int64")], X,
    ),
    "stop-gradient-asarray": (lambda o, x: o.stop_gradient(x) + o.asarray([[1.0] * 6]), X),
}


@pytest.mark.parametrize("opset", [15, 18])
@pytest.mark.parametrize("case", list(CASES))
def test_op_matches_numpy(case, opset):
    fn, *arrays = CASES[case]
    want = fn(np_ops, *arrays)
    want = want if isinstance(want, list | tuple) else [want]
    got = _trace(fn, *arrays, opset=opset)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-5)


def test_static_shapes_are_ints_and_the_batch_is_a_dim():
    graph = Graph(17, {}, {})
    x = graph.sym("x", np.float32, (Dim([("batch", "x", 0)]), 6))
    with graph.active():
        assert onnx_ops.shape(onnx_ops.reshape(x, (-1, 2, 3)))[1:] == (2, 3)
        assert onnx_ops.shape(onnx_ops.reshape(x, (-1, 2, 3)))[0].key == "batch"
        (b,) = onnx_ops.shape(x)[:1]
        assert (b * 3).key == "3*batch"
        with pytest.raises(OnnxExportError, match="only known when the graph runs"):
            range(b)


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda o, x: o.uniform(None, (2,)), r"ops\.uniform.*random draws"),
        (lambda o, x: o.to_numpy(x), r"ops\.to_numpy.*no value"),
        (lambda o, x: float(o.sum(x)), "traced tensor's value in Python"),
        (lambda o, x: np.asarray(x), "converting a traced tensor to NumPy"),
        (lambda o, x: x[np.array([0, 1])], "indexing with"),
        (lambda o, x: o.split(o.reshape(x, (-1,)), 2), r"ops\.split.*run-time size"),
    ],
)
def test_what_cannot_be_traced_says_so(fn, match):
    with pytest.raises(OnnxExportError, match=match):
        _trace(fn, X)
