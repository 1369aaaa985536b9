"""The state files are plain safetensors: the safetensors package reads ours and we read its."""

from __future__ import annotations

import json

import blake3
import numpy as np
import pytest
import safetensors.numpy

from rlmodule_core import checkpoint
from rlmodule_core.checkpoint import CorruptCheckpointError
from rlmodule_core.checkpoint import safetensors as _safetensors

DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float32", "int64", "uint64", "float64"]


def sample_state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    state = {f"x.{name}": (rng.normal(size=(3, 5)) * 50).astype(name) for name in DTYPES}
    state["scalar"] = np.asarray(7, np.int32)
    state["empty"] = np.zeros((0, 4), np.float32)
    state["strided"] = np.arange(12, dtype=np.float32).reshape(3, 4).T  # not C-contiguous
    state["big_endian"] = np.arange(6, dtype=">f4").reshape(2, 3)
    return state


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].shape == value.shape and got[key].dtype == value.dtype.newbyteorder("=")
        np.testing.assert_array_equal(got[key], value)


@pytest.mark.parametrize("mapped", [False, True])
def test_round_trip_returns_the_files_blake3_and_writable_arrays(tmp_path, mapped):
    state = sample_state()
    digest = _safetensors.write(tmp_path / "s.safetensors", state)
    on_disk = (tmp_path / "s.safetensors").read_bytes()
    assert digest == blake3.blake3(on_disk).hexdigest()
    back, read_digest = _safetensors.read(tmp_path / "s.safetensors", mapped=mapped)
    assert read_digest == digest
    assert_same(back, state)
    back["x.float32"][0, 0] = 1.0  # loaded state may be modified in place (optimizer state)
    # A mapped file is mapped copy-on-write: writing to the arrays never reaches the file.
    assert (tmp_path / "s.safetensors").read_bytes() == on_disk


def test_the_safetensors_package_reads_ours_and_we_read_its(tmp_path):
    state = sample_state()
    _safetensors.write(tmp_path / "ours.safetensors", state)
    assert_same(safetensors.numpy.load_file(str(tmp_path / "ours.safetensors")), state)
    native = {k: v.astype(v.dtype.newbyteorder("<"), order="C") for k, v in state.items()}
    safetensors.numpy.save_file(native, str(tmp_path / "theirs.safetensors"), metadata={"a": "b"})
    assert_same(_safetensors.read(tmp_path / "theirs.safetensors")[0], state)


def test_tensors_are_aligned_to_their_item_size(tmp_path):
    _safetensors.write(tmp_path / "s.safetensors", sample_state())
    back, _ = _safetensors.read(tmp_path / "s.safetensors")
    assert all(a.flags.aligned for a in back.values())


def test_unsupported_dtypes_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="'z' has dtype complex64"):
        _safetensors.write(tmp_path / "s.safetensors", {"z": np.zeros(2, np.complex64)})
    assert not (tmp_path / "s.safetensors").exists()


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("damage", ["truncated", "short", "header", "offsets"])
def test_malformed_files_raise_a_named_error(tmp_path, damage, mapped):
    path = tmp_path / "s.safetensors"
    _safetensors.write(path, {"w": np.ones((4, 4), np.float32)})
    data = path.read_bytes()
    if damage == "truncated":
        data = data[:-4]
    elif damage == "short":
        data = data[:5]
    elif damage == "header":
        data = data[:8] + b"X" + data[9:]
    else:
        length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + length])
        header["w"]["data_offsets"] = [4, 68]
        text = json.dumps(header).encode().ljust(length)
        data = data[:8] + text + data[8 + length :]
    path.write_bytes(data)
    with pytest.raises(_safetensors.SafetensorsError):
        _safetensors.read(path, mapped=mapped)
    with pytest.raises(CorruptCheckpointError, match="s.safetensors is corrupted or truncated"):
        checkpoint.load_state_file(path, mapped=mapped)


@pytest.mark.parametrize("mapped", [False, True])
def test_load_state_file_checks_the_expected_digest(tmp_path, mapped):
    path = tmp_path / "s.safetensors"
    digest = checkpoint.save_state_file(path, {"w": np.ones(3, np.float32)})
    assert checkpoint.load_state_file(path, digest=digest, mapped=mapped)["w"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(CorruptCheckpointError, match="s.safetensors is corrupted or truncated"):
        checkpoint.load_state_file(path, digest="0" * 64, mapped=mapped)


@pytest.mark.parametrize("batch_bytes", [1, 100, 2**30])
def test_streamed_write_is_the_same_file_read_a_batch_at_a_time(tmp_path, batch_bytes):
    state = sample_state()
    digest = _safetensors.write(tmp_path / "whole.safetensors", state)
    layout = {key: (value.shape, value.dtype) for key, value in state.items()}
    asked: list[list[str]] = []

    def read(keys):
        asked.append(keys)
        return {key: state[key] for key in keys}

    streamed = _safetensors.write_streamed(tmp_path / "s.safetensors", layout, read, batch_bytes=batch_bytes)
    assert streamed == digest
    assert (tmp_path / "s.safetensors").read_bytes() == (tmp_path / "whole.safetensors").read_bytes()
    assert sorted(k for keys in asked for k in keys) == sorted(state)
    sizes = [sum(state[k].nbytes for k in keys) for keys in asked]
    assert all(len(keys) == 1 or size <= batch_bytes for keys, size in zip(asked, sizes, strict=True))
    if batch_bytes == 2**30:
        assert len(asked) == 1
    if batch_bytes == 1:
        assert all(len(keys) == 1 for keys in asked)


def test_streamed_write_refuses_bad_dtypes_first_and_arrays_that_differ_from_the_layout(tmp_path):
    with pytest.raises(ValueError, match="'z' has dtype complex64"):
        _safetensors.write_streamed(tmp_path / "a.safetensors", {"z": ((2,), np.complex64)}, lambda keys: {})
    assert not (tmp_path / "a.safetensors").exists()
    layout = {"w": ((2, 3), np.float32)}
    with pytest.raises(ValueError, match=r"'w' is \(3, 2\) float32 but was announced as \(2, 3\) float32"):
        _safetensors.write_streamed(tmp_path / "b.safetensors", layout, lambda keys: {"w": np.zeros((3, 2), np.float32)})
