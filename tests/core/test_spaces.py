"""Tests for the JSON form of gymnasium spaces."""

import json

import numpy as np
import pytest
from gymnasium import spaces

from rlmodule_core.spaces import space_from_json, space_to_json


def _through_json(space: spaces.Space) -> spaces.Space:
    """Round-trips through the text form, as a checkpoint does."""
    text = json.dumps(space_to_json(space), allow_nan=False)
    return space_from_json(json.loads(text))


def _assert_same_box(a: spaces.Box, b: spaces.Box) -> None:
    # gymnasium's Box equality uses allclose; checkpoints need bit-exact bounds.
    assert a == b
    assert b.dtype == a.dtype
    assert b.shape == a.shape
    assert b.low.tobytes() == a.low.tobytes()
    assert b.high.tobytes() == a.high.tobytes()
    np.testing.assert_array_equal(b.bounded_below, a.bounded_below)
    np.testing.assert_array_equal(b.bounded_above, a.bounded_above)


# --------------------------------------------------------------------------- Box


@pytest.mark.parametrize(
    "dtype",
    [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8],
)
def test_box_every_dtype_round_trips(dtype):
    box = spaces.Box(low=0, high=7, shape=(2, 3), dtype=dtype)
    back = _through_json(box)
    _assert_same_box(box, back)
    assert space_to_json(box)["dtype"] == np.dtype(dtype).name


def test_box_equal_bounds_are_written_as_one_number():
    d = space_to_json(spaces.Box(-1.0, 1.0, shape=(4, 5), dtype=np.float32))
    assert d == {"type": "Box", "shape": [4, 5], "dtype": "float32", "low": -1.0, "high": 1.0}


def test_box_per_element_bounds_are_nested_lists():
    low = np.array([[0.0, -1.0], [2.0, 3.0]], dtype=np.float32)
    box = spaces.Box(low=low, high=low + 1)
    d = space_to_json(box)
    assert d["low"] == [[0.0, -1.0], [2.0, 3.0]]
    assert d["high"] == [[1.0, 0.0], [3.0, 4.0]]
    _assert_same_box(box, _through_json(box))


def test_box_float32_bounds_are_exact():
    # 0.1 is not representable; allclose would pass with a rounded value, tobytes won't.
    low = np.array([0.1, 1 / 3, np.float32(1e-38), -3.4028235e38], dtype=np.float32)
    box = spaces.Box(low=low, high=np.float32(np.finfo(np.float32).max), dtype=np.float32)
    _assert_same_box(box, _through_json(box))


def test_box_float64_bounds_are_exact():
    low = np.array([0.1, 1 / 3, 5e-324, np.nextafter(1.0, 2.0)], dtype=np.float64)
    box = spaces.Box(low=low, high=np.full(4, 1e308), dtype=np.float64)
    back = _through_json(box)
    _assert_same_box(box, back)
    assert back.low[3] == np.nextafter(1.0, 2.0)  # one ulp above 1 survives


def test_box_signed_zero_is_not_collapsed():
    low = np.array([-0.0, 0.0], dtype=np.float64)
    box = spaces.Box(low=low, high=1.0, dtype=np.float64)
    assert space_to_json(box)["low"] == [-0.0, 0.0]
    assert np.signbit(_through_json(box).low).tolist() == [True, False]


def test_box_infinite_bounds_are_strings_and_strict_json():
    box = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
    d = space_to_json(box)
    assert d["low"] == "-inf" and d["high"] == "inf"
    json.dumps(d, allow_nan=False)  # raises on a float inf
    back = _through_json(box)
    _assert_same_box(box, back)
    assert not back.is_bounded("both")


def test_box_mixed_finite_and_infinite_bounds():
    low = np.array([-np.inf, 0.0, -2.5], dtype=np.float64)
    high = np.array([1.0, np.inf, np.inf], dtype=np.float64)
    box = spaces.Box(low, high, dtype=np.float64)
    d = space_to_json(box)
    assert d["low"] == ["-inf", 0.0, -2.5]
    assert d["high"] == [1.0, "inf", "inf"]
    _assert_same_box(box, _through_json(box))


def test_int_box_keeps_unbounded_sides_and_exact_int64_limits():
    # gymnasium stores -inf of an int Box as the dtype minimum; the JSON must still say
    # "-inf" and the reader must mark that side unbounded again.
    low = np.array([-np.inf, 2.0**62], dtype=np.float64)
    box = spaces.Box(low=low, high=np.inf, dtype=np.int64)
    box_exact = spaces.Box(
        low=np.array([0, 2**63 - 2], dtype=np.int64), high=2**63 - 2, dtype=np.int64
    )
    assert space_to_json(box)["low"] == ["-inf", 2**62]
    assert space_to_json(box)["high"] == "inf"
    _assert_same_box(box, _through_json(box))
    _assert_same_box(box_exact, _through_json(box_exact))
    assert _through_json(box_exact).high[0] == 2**63 - 2  # no float64 rounding


def test_int_box_values_are_json_ints():
    box = spaces.Box(low=np.array([0, 1, 2], dtype=np.int32), high=9, dtype=np.int32)
    d = space_to_json(box)
    assert d["low"] == [0, 1, 2] and all(type(v) is int for v in d["low"])
    assert type(d["high"]) is int
    _assert_same_box(box, _through_json(box))


def test_box_scalar_shape():
    box = spaces.Box(low=np.float32(-2.5), high=np.float32(3.0), shape=(), dtype=np.float32)
    d = space_to_json(box)
    assert d["shape"] == [] and d["low"] == -2.5
    back = _through_json(box)
    assert back.shape == ()
    _assert_same_box(box, back)


def test_box_with_zero_size_shape():
    box = spaces.Box(low=0.0, high=1.0, shape=(0, 3), dtype=np.float32)
    _assert_same_box(box, _through_json(box))


# --------------------------------------------------------------------------- discrete spaces


def test_discrete_with_start():
    space = spaces.Discrete(5, start=-2)
    d = space_to_json(space)
    assert d == {"type": "Discrete", "n": 5, "start": -2, "dtype": "int64"}
    back = _through_json(space)
    assert back == space and back.start == -2 and back.n == 5


def test_discrete_dtype_round_trips_and_defaults():
    space = spaces.Discrete(3, dtype=np.int32)
    assert _through_json(space).dtype == np.int32
    assert space_from_json({"type": "Discrete", "n": 3}) == spaces.Discrete(3)


def test_multi_discrete_2d_nvec_with_start_and_dtype():
    nvec = np.array([[2, 3], [4, 5]])
    start = np.array([[0, 1], [-1, 10]])
    space = spaces.MultiDiscrete(nvec, start=start, dtype=np.int32)
    d = space_to_json(space)
    assert d == {
        "type": "MultiDiscrete",
        "nvec": [[2, 3], [4, 5]],
        "start": [[0, 1], [-1, 10]],
        "dtype": "int32",
    }
    back = _through_json(space)
    assert back == space
    assert back.dtype == np.int32 and back.shape == (2, 2)
    np.testing.assert_array_equal(back.start, start)


@pytest.mark.parametrize("n", [4, (2, 3)])
def test_multi_binary(n):
    space = spaces.MultiBinary(n)
    back = _through_json(space)
    assert back == space and back.shape == space.shape
    assert back.n == space.n  # int stays int, shape stays a tuple


# --------------------------------------------------------------------------- containers


def test_nested_dict_and_tuple():
    space = spaces.Dict(
        {
            "z_obs": spaces.Tuple(
                [
                    spaces.Box(-np.inf, 1.0, shape=(2,), dtype=np.float64),
                    spaces.Dict(
                        {"b": spaces.Discrete(3, start=1), "a": spaces.MultiBinary(2)},
                        sort_keys=False,
                    ),
                ]
            ),
            "a_act": spaces.MultiDiscrete([3, 4]),
        },
        sort_keys=False,
    )
    back = _through_json(space)
    assert back == space
    assert list(back.spaces) == ["z_obs", "a_act"]  # not sorted
    assert list(back["z_obs"][1].spaces) == ["b", "a"]
    assert back["z_obs"][1]["b"].start == 1
    _assert_same_box(space["z_obs"][0], back["z_obs"][0])


def test_empty_containers():
    for space in (spaces.Tuple([]), spaces.Dict({})):
        assert _through_json(space) == space


def test_seed_is_not_stored():
    d = space_to_json(spaces.Discrete(3, seed=123))
    assert "seed" not in d and "np_random" not in d


# --------------------------------------------------------------------------- errors, writing


def test_text_space_is_rejected_with_a_fix():
    with pytest.raises(ValueError, match=r"received Text.*Box, Discrete.*Convert it to a Box"):
        space_to_json(spaces.Text(8))


def test_unsupported_space_nested_names_its_path():
    space = spaces.Dict({"obs": spaces.Tuple([spaces.Discrete(2), spaces.Text(4)])})
    with pytest.raises(ValueError, match=r'spaces\["obs"\]\.spaces\[1\]'):
        space_to_json(space)


@pytest.mark.parametrize("obj", [[1, 2], np.zeros(3), {"type": "Box"}])
def test_non_space_is_rejected(obj):
    with pytest.raises(
        ValueError, match=r"(?i)expected a gymnasium\.spaces\.Space.*received <class"
    ):
        space_to_json(obj)


def test_nan_bound_is_rejected():
    box = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
    box.low[0] = np.nan  # gymnasium forbids NaN at construction, not afterwards
    with pytest.raises(ValueError, match="NaN"):
        space_to_json(box)


def test_non_string_dict_key_is_rejected():
    with pytest.raises(ValueError, match="string keys"):
        space_to_json(spaces.Dict({1: spaces.Discrete(2)}))


# --------------------------------------------------------------------------- errors, reading


def test_missing_type_names_the_path():
    d = {
        "type": "Dict",
        "spaces": {"obs": {"type": "Tuple", "spaces": [{"type": "Discrete", "n": 2}, {"n": 3}]}},
    }
    with pytest.raises(ValueError, match=r'Missing "type" at spaces\["obs"\]\.spaces\[1\]'):
        space_from_json(d)


def test_missing_type_at_top_level():
    with pytest.raises(ValueError, match=r'Missing "type" at the top level'):
        space_from_json({"n": 3})


def test_unknown_type_is_named():
    with pytest.raises(ValueError, match=r"Unknown space type 'Text' at the top level.*Box"):
        space_from_json({"type": "Text", "max_length": 4})


@pytest.mark.parametrize(
    ("d", "missing"),
    [
        ({"type": "Box", "shape": [2], "dtype": "float32", "low": 0.0}, "high"),
        ({"type": "Discrete", "start": 0}, "n"),
        ({"type": "MultiDiscrete"}, "nvec"),
        ({"type": "Tuple"}, "spaces"),
    ],
)
def test_missing_field_is_named(d, missing):
    with pytest.raises(ValueError, match=rf"missing field\(s\) \['{missing}'\]"):
        space_from_json(d)


def test_not_a_dict_is_rejected():
    with pytest.raises(ValueError, match=r"Expected a dict.*spaces\[0\].*received str"):
        space_from_json({"type": "Tuple", "spaces": ["Discrete(3)"]})


def test_nan_in_json_bound_is_rejected():
    d = {"type": "Box", "shape": [1], "dtype": "float32", "low": float("nan"), "high": 1.0}
    with pytest.raises(ValueError, match="low holds NaN"):
        space_from_json(d)


def test_bad_bound_string_is_rejected():
    d = {"type": "Box", "shape": [1], "dtype": "float32", "low": "-Infinity", "high": 1.0}
    with pytest.raises(ValueError, match=r"expected low to hold numbers.*'-Infinity'"):
        space_from_json(d)


def test_bound_shape_mismatch_is_rejected():
    d = {"type": "Box", "shape": [3], "dtype": "float32", "low": [0.0, 1.0], "high": 2.0}
    with pytest.raises(ValueError, match=r"shape \[3\]; received shape \[2\]"):
        space_from_json(d)


def test_infinite_bound_of_unsigned_box_is_rejected():
    d = {"type": "Box", "shape": [1], "dtype": "uint8", "low": 0, "high": "inf"}
    with pytest.raises(ValueError, match="uint8 cannot be unbounded"):
        space_from_json(d)


def test_gymnasium_validation_errors_get_the_path():
    d = {"type": "Dict", "spaces": {"act": {"type": "Discrete", "n": 0}}}
    with pytest.raises(ValueError, match=r'Invalid Discrete at spaces\["act"\]'):
        space_from_json(d)


def test_out_of_range_int_bound_is_a_value_error():
    d = {"type": "Box", "shape": [1], "dtype": "uint8", "low": 0, "high": 300}
    with pytest.raises(ValueError, match=r"Invalid Box at the top level"):
        space_from_json(d)


def test_bool_is_not_a_count():
    with pytest.raises(ValueError, match="expected n to be an int"):
        space_from_json({"type": "Discrete", "n": True})
