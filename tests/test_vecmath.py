"""The kernels' vectorisable maths (ntm.models.vecmath) against numpy: accuracy in ulp, the special
values, and the fixed-order reductions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit
from numba.core.errors import TypingError

from ntm.models import vecmath

_J = {"fastmath": {"nsz", "arcp"}, "error_model": "numpy"}


@njit(**_J)
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = vecmath.exp(x[i])


@njit(**_J)
def _expm1(x, out):
    for i in range(x.shape[0]):
        out[i] = vecmath.expm1(x[i])


@njit(**_J)
def _log(x, out):
    for i in range(x.shape[0]):
        out[i] = vecmath.log(x[i])


@njit(**_J)
def _spans(a, ia, b, ib, n):
    return vecmath.dot_span(a, ia, b, ib, n), vecmath.sum_span(a, ia, n), vecmath.max_span(a, ia, n)


FUNCTIONS = {"exp": (_exp, np.exp), "expm1": (_expm1, np.expm1), "log": (_log, np.log)}
# where exp and expm1 flush to 0 and -1 (documented): below 2^(2 - bias)
FLUSH = {np.float32: -(127 - 2) * np.log(2), np.float64: -(1023 - 2) * np.log(2)}


def ulp_error(name: str, dtype, x: np.ndarray) -> float:
    """The largest error of vecmath's function over x, in units of the dtype's last place at the
    exact (float64 or numpy) result; special values must match exactly (NaN as NaN)."""
    fn, ref = FUNCTIONS[name]
    x = x.astype(dtype)
    out = np.empty_like(x)
    fn(x, out)
    with np.errstate(all="ignore"):
        exact = ref(x.astype(np.float64))
        expected = exact.astype(dtype)
    special = ~np.isfinite(expected) | (expected == 0)
    if name != "log":
        flushed = x < FLUSH[dtype]
        special &= ~flushed
        assert np.all(out[flushed] == (0 if name == "exp" else -1))
        keep = ~special & ~flushed & (np.abs(expected) >= np.finfo(dtype).tiny)
    else:
        keep = ~special
    np.testing.assert_array_equal(out[special], expected[special])
    if not keep.any():
        return 0.0
    spacing = np.spacing(np.abs(expected[keep])).astype(np.float64)
    return float(np.max(np.abs(out[keep].astype(np.float64) - exact[keep]) / spacing))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "expm1"])
def test_exp_within_2_ulp_over_the_whole_range(name, dtype):
    rng = np.random.default_rng(0)
    hi = np.log(np.finfo(dtype).max)
    x = np.concatenate([rng.uniform(-hi * 1.05, hi * 1.05, 100_000), rng.uniform(-1, 1, 50_000),
                        rng.uniform(-1e-6, 1e-6, 1000), [0.0, -0.0, np.inf, -np.inf, np.nan, hi, -hi, 1e-30]])
    assert ulp_error(name, dtype, x) <= 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_within_2_ulp_over_the_whole_range(dtype):
    rng = np.random.default_rng(1)
    info = np.finfo(dtype)
    x = np.concatenate([np.exp(rng.uniform(np.log(info.tiny), np.log(info.max), 100_000)),
                        rng.uniform(0.5, 2.0, 50_000), [0.0, -1.0, np.inf, -np.inf, np.nan, info.tiny / 8, 1.0]])
    assert ulp_error("log", dtype, x) <= 2.0


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True, width=32), dtype=st.sampled_from([np.float32, np.float64]))
def test_any_single_value(x, dtype):
    for name in FUNCTIONS:
        assert ulp_error(name, dtype, np.array([x])) <= 2.0, name


@settings(max_examples=100, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_spans_equal_numpy(data, dtype):
    a = data.draw(arrays(dtype, st.integers(0, 40), elements=st.floats(-100, 100, width=32)))
    b = data.draw(arrays(dtype, a.shape[0] + data.draw(st.integers(0, 9)), elements=st.floats(-100, 100, width=32)))
    ia = data.draw(st.integers(0, a.shape[0]))
    n = data.draw(st.integers(0, a.shape[0] - ia))
    ib = data.draw(st.integers(0, b.shape[0] - n))
    dot, total, top = _spans(a, ia, b, ib, n)
    x, y = a[ia:ia + n].astype(np.float64), b[ib:ib + n].astype(np.float64)
    tol = 10 * np.finfo(dtype).eps * (np.abs(x) @ np.abs(y) + np.abs(x).sum()) + 1e-30
    assert abs(dot - x @ y) <= tol
    assert abs(total - x.sum()) <= tol
    assert top == (x.max() if n else -np.inf)


def test_spans_keep_a_fixed_order():
    """8 lanes (k mod 8) added pairwise, then the tail: the float32 result is that sum, bit for bit."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal(21).astype(np.float32) * 1e4
    ones = np.ones(21, np.float32)
    lanes = [np.float32(0)] * 8
    for k in range(16):
        lanes[k % 8] = np.float32(lanes[k % 8] + a[k])
    while len(lanes) > 1:
        lanes = [np.float32(lanes[i] + lanes[i + 1]) for i in range(0, len(lanes), 2)]
    expected = lanes[0]
    for k in range(16, 21):
        expected = np.float32(expected + a[k])
    dot, total, _ = _spans(a, 0, ones, 0, 21)
    assert dot == expected and total == expected


def test_max_skips_nan_and_the_python_fallbacks_are_numpy():
    a = np.array([1.0, np.nan, 3.0, 2.0])
    assert _spans(a, 0, a, 0, 4)[2] == 3.0
    assert vecmath.exp(1.0) == np.exp(1.0) and vecmath.log(2.0) == np.log(2.0) and vecmath.expm1(1e-9) == np.expm1(1e-9)


# ---------------------------------------------------------------- column sums and row dots

@njit(**_J)
def _columns_written_out(X, Y, c, ic, start):
    """The loops the column sums replace, in the kernels' order: rows one after the other."""
    M, N = X.shape
    sq, dot = np.zeros(N, X.dtype), np.zeros(N, X.dtype)
    add, sub = start.copy(), start.copy()
    for j in range(M):
        for i in range(N):
            sq[i] += X[j, i] * X[j, i]
            dot[i] += c[ic + j] * X[j, i]
            add[i] += c[ic + j] * X[j, i]
            sub[i] -= c[ic + j] * (X[j, i] * Y[j, i])
    return sq, dot, add, sub


@njit(**_J)
def _columns(X, Y, c, ic, start):
    N = X.shape[1]
    sq, dot = np.empty(N, X.dtype), np.empty(N, X.dtype)
    add, sub = start.copy(), start.copy()
    vecmath.col_sq(sq, X)
    vecmath.col_dot(dot, c, ic, X)
    vecmath.col_dot_add(add, c, ic, X)
    vecmath.col_dot2_sub(sub, c, ic, X, Y)
    return sq, dot, add, sub


@njit(**_J)
def _rows_written_out(X, Y, a, ia, io):
    """`dot_span` row by row, as the kernels wrote it before `row_dots`."""
    M, N = X.shape
    out, out2 = np.zeros(io + M, X.dtype), np.zeros(io + M, X.dtype)
    v = np.empty(N, X.dtype)
    for j in range(M):
        out[io + j] = vecmath.dot_span(a, ia, X[j], 0, N)
        for i in range(N):
            v[i] = X[j, i] * Y[j, i]
        out2[io + j] = vecmath.dot_span(a, ia, v, 0, N)
    return out, out2


@njit(**_J)
def _rows(X, Y, a, ia, io):
    M = X.shape[0]
    out, out2 = np.zeros(io + M, X.dtype), np.zeros(io + M, X.dtype)
    vecmath.row_dots(out, io, a, ia, X)
    vecmath.row_dots2(out2, io, a, ia, X, Y)
    return out, out2


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_column_sums_and_row_dots_are_the_loops_bits(data, dtype):
    """Every shape (blocks of columns and groups of rows with and without a remainder): the same bits
    as the loops they replace in the kernels."""
    M, N = data.draw(st.integers(1, 23)), data.draw(st.integers(0, 150))
    ic, io, ia = data.draw(st.integers(0, 5)), data.draw(st.integers(0, 5)), data.draw(st.integers(0, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    X, Y = (rng.standard_normal((M, N)) * 10).astype(dtype), rng.standard_normal((M, N)).astype(dtype)
    c, start = rng.standard_normal(ic + M).astype(dtype), rng.standard_normal(N).astype(dtype)
    a = rng.standard_normal(ia + N).astype(dtype)
    for got, want in zip(_columns(X, Y, c, ic, start), _columns_written_out(X, Y, c, ic, start)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(_rows(X, Y, a, ia, io), _rows_written_out(X, Y, a, ia, io)):
        np.testing.assert_array_equal(got, want)
    X64, a64 = X.astype(np.float64), a[ia:].astype(np.float64)
    tol = 10 * np.finfo(dtype).eps * (np.abs(X64) @ np.abs(a64)) + 1e-30
    assert np.all(np.abs(_rows(X, Y, a, ia, io)[0][io:] - X64 @ a64) <= tol)


def test_column_sums_take_only_contiguous_float_arrays():
    with pytest.raises(TypingError):                 # a strided view: no intrinsic for it
        _columns(np.ones((3, 4), np.float32)[:, ::2], np.ones((3, 2), np.float32), np.ones(3, np.float32), 0,
                 np.ones(2, np.float32))


@njit
def _prefetched(a):
    vecmath.prefetch(a)
    vecmath.prefetch(a[:0])                          # an empty span: no line to ask for
    return a.copy()


@pytest.mark.parametrize("shape, dtype", [((0,), np.float32), ((1000,), np.float32), ((3, 5, 7), np.float64),
                                          ((17,), np.int64), ((4, 4), np.bool_)])
def test_prefetch_is_only_a_hint(shape, dtype):
    a = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    assert np.array_equal(_prefetched(a), a) and _prefetched(a).dtype == a.dtype


def test_prefetch_takes_only_contiguous_arrays():
    with pytest.raises(TypingError):
        _prefetched(np.ones((3, 4), np.float32)[:, ::2])
