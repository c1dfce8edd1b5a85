"""exp, expm1, log and reductions (dot, sum, max) that LLVM can vectorise, for the numba kernels of
`ntm.models.kernels`.

Why hand-written (measured, bench/README.md "Models", issue 21): numba lowers `np.exp` in a loop to
`llvm.exp.v16f32`, which LLVM then calls one lane at a time in libm (~4-6 ns an element here), and
the llvmlite wheels have no vector maths library (numba's SVML support needs a patched LLVM; glibc's
libmvec is not picked up). A step of the copy NTM makes ~1,300 such calls per sample, most of its
forward time. Written from additions, multiplications and bit operations only, the same functions
vectorise at whatever width the CPU has (SSE, AVX2, AVX-512: nothing here depends on one of them)
and cost ~0.3-1 ns an element.

The algorithms are the textbook ones (Cody & Waite's range reduction, J.-M. Muller, "Elementary
Functions", ch. 11; the constants of Cephes' exp/expf): x = n ln2 + r with |r| <= ln2 / 2, then a
Taylor polynomial in r, scaled by 2^n through the exponent bits; log(x) = e ln2 + 2 atanh(s) with
x = m 2^e, m in [sqrt(1/2), sqrt(2)) and s = (m - 1) / (m + 1). Accuracy, tested against numpy
over the whole float range (tests/test_vecmath.py): within 2 ulp in float32 and float64; the
special values as numpy's (exp: +inf, 0 and NaN; log: -inf at 0, NaN below, +inf), except that
results near the subnormal range flush to 0 (exp below about -86.6 in float32, -707.7 in float64).

Each function computes in its argument's dtype (float32 or float64): the constants are typed per
dtype through `numba.extending.overload`, so float32 code stays float32. Called from Python (not
compiled), they fall back to numpy.

The reductions (`dot_span`, `sum_span`, `max_span`, and the column sums `col_dot` and its kin, at
the end) are LLVM IR written out through `numba.extending.intrinsic`, in a fixed order, for numba
code only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# Same fast-math flags as the kernels (see ntm.models.kernels): no reassociation, so every sum is
# done in the order written; NaN and Inf propagate. numpy's error model: x / 0 is inf or NaN, not
# an exception (the check and its branch would stop LLVM from vectorising the loop).
_OPTIONS = {"fastmath": {"nsz", "arcp"}, "error_model": "numpy"}


# ---------------------------------------------------------------- the float's bits

_PAIRED = {types.float32: types.int32, types.int32: types.float32,
           types.float64: types.int64, types.int64: types.float64}


@intrinsic
def _reinterpret(typingctx, x):
    """The same bits read as the other type of its pair: float32 <-> int32, float64 <-> int64."""
    target = _PAIRED.get(x)
    if target is None:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(target))
    return target(x), codegen


class _Format(NamedTuple):
    """One float format's constants as numpy scalars of its dtype (numba freezes a global tuple as
    typed constants, so float32 arithmetic is not promoted to float64)."""
    zero: float
    one: float
    half: float
    two: float
    log2e: float
    ln2_hi: float                 # Cephes' split of ln 2: n * ln2_hi is exact for the n that occur
    ln2_lo: float
    lo: float                     # exp: below lo (2^(2 - bias)) the result is flushed to 0
    hi: float                     # above hi it overflows to inf
    inf: float
    nan: float
    sqrt2: float
    tiny: float                   # the smallest normal number
    scale_up: float               # 2^mantissa bits, scales a subnormal into the normal range
    mbits: int                    # the mantissa's bits, in the format's integer type
    bias: int
    mant_mask: int
    one_bits: int                 # the bits of 1.0
    exp_c: tuple                  # 1 / k! for k = exp terms .. 2 (Horner's order)
    log_c: tuple                  # 1 / (2k + 1) for k = log terms .. 1


def _make_format(f, i, mantissa_bits: int, bias: int, exp_terms: int, log_terms: int) -> _Format:
    """The constants for the float type f (np.float32 / np.float64) with integer type i. The terms:
    |r|^(terms + 1) / (terms + 1)! and s^(2 terms + 1) / (2 terms + 1) below a quarter ulp."""
    return _Format(
        f(0), f(1), f(0.5), f(2), f(1 / math.log(2)), f(0.693359375), f(-2.121944400546905827679e-4),
        f(-(bias - 2) * math.log(2)), f((bias + 1) * math.log(2)), f(np.inf), f(np.nan), f(math.sqrt(2)),
        f(2.0 ** (1 - bias)), f(2.0 ** mantissa_bits), i(mantissa_bits), i(bias),
        i((1 << mantissa_bits) - 1), i(bias << mantissa_bits),
        tuple(f(1 / math.factorial(k)) for k in range(exp_terms, 1, -1)),
        tuple(f(1 / (2 * k + 1)) for k in range(log_terms, 0, -1)))


_F32 = _make_format(np.float32, np.int32, 23, 127, exp_terms=7, log_terms=5)
_F64 = _make_format(np.float64, np.int64, 52, 1023, exp_terms=13, log_terms=11)
_TYPES = {types.float32: (_F32, np.float32, np.int32), types.float64: (_F64, np.float64, np.int64)}


def _format(x):
    """(constants, float type, integer type) for a numba float type, else (None, None, None)."""
    return _TYPES.get(x, (None, None, None))


# ---------------------------------------------------------------- Python fallbacks (the numba versions overload these)

def exp(x):
    """e^x (numpy outside numba)."""
    return np.exp(x)


def expm1(x):
    """e^x - 1, accurate near 0 (numpy outside numba)."""
    return np.expm1(x)


def log(x):
    """The natural logarithm (numpy outside numba)."""
    return np.log(x)


# ---------------------------------------------------------------- the compiled versions

def _core(x):
    """Stub: see `_core_impl`."""


@overload(_core, jit_options=_OPTIONS)
def _core_impl(x):
    """The shared core: x -> (p, 2^(n-1)) with x = n ln2 + r and p = e^r - 1 = r + r^2/2! + ...
    (without its 1, so that expm1 keeps its accuracy near 0). Half the scale, doubled by the caller
    after the product, so that n = bias (2^n itself overflows) still gives a finite result."""
    F, f, i = _format(x)
    if F is None:
        return None
    c_exp = F.exp_c

    def impl(x):
        n = np.floor(x * F.log2e + F.half)                          # nearest integer to x / ln2
        r = (x - n * F.ln2_hi) - n * F.ln2_lo                       # Cody-Waite: n * ln2_hi is exact
        q = c_exp[0]
        for c in c_exp[1:]:                                         # unrolled by numba (a tuple)
            q = q * r + c
        p = r + (r * r) * q                                         # e^r - 1
        half_scale = _reinterpret(i((i(n) - 1 + F.bias) << F.mbits))  # 2^(n-1), n in [2 - bias, bias + 1]: normal
        return p, half_scale
    return impl


def _exp_family(minus_one: bool):
    """The overload of exp (minus_one False) or expm1 (True): the shared core, then the special values
    (below lo: 0 or -1; above hi: inf; NaN in, NaN out)."""

    def typer(x):
        F, f, i = _format(x)
        if F is None:
            return None
        below = -F.one if minus_one else F.zero

        def impl(x):
            xc = min(max(x, F.lo), F.hi)
            p, half = _core(xc)
            if minus_one:                                           # a constant: numba keeps one branch
                y = (p * half + (half - F.half)) * F.two            # 2^n (e^r - 1) + (2^n - 1); exact at n = 0
            else:
                y = ((p + F.one) * half) * F.two
            y = below if x < F.lo else y
            y = F.inf if x > F.hi else y
            return x if x != x else y
        return impl
    return typer


overload(exp, jit_options=_OPTIONS)(_exp_family(minus_one=False))
overload(expm1, jit_options=_OPTIONS)(_exp_family(minus_one=True))


@overload(log, jit_options=_OPTIONS)
def _log(x):
    F, f, i = _format(x)
    if F is None:
        return None
    c_log = F.log_c

    def impl(x):
        sub = x < F.tiny                                            # subnormal: scale into the normal range
        xs = x * F.scale_up if sub else x
        bits = _reinterpret(xs)
        e = (bits >> F.mbits) - F.bias - (F.mbits if sub else i(0))
        m = _reinterpret(i((bits & F.mant_mask) | F.one_bits))     # m in [1, 2)
        big = m > F.sqrt2
        m = m * F.half if big else m                                # m in [sqrt(1/2), sqrt(2))
        ef = f(e) + (F.one if big else F.zero)
        s = (m - F.one) / (m + F.one)
        s2 = s * s
        q = c_log[0]
        for c in c_log[1:]:
            q = q * s2 + c
        t = s + s                                                   # 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 ...)
        y = ef * F.ln2_hi + (t + (t * s2 * q + ef * F.ln2_lo))      # e ln2 + 2 atanh(s)
        y = -F.inf if x == F.zero else y
        y = F.nan if x < F.zero else y
        y = x if x == F.inf else y
        return x if x != x else y
    return impl


# ---------------------------------------------------------------- dot products in a fixed order

_LANES = 8


def _at(builder, data, k, typ):
    """A pointer to typ (a float or a vector of them) at element k of an array's data: cast, not
    load(..., typ=), so the same IR with llvmlite's typed pointers (older numba) and its opaque ones."""
    return builder.bitcast(cgutils.gep(builder, data, k), typ.as_pointer())


def _load(builder, data, k, typ, align):
    """The typ (a float or a vector of them) at element k of an array's data (see `_at`)."""
    return builder.load(_at(builder, data, k, typ), align=align)


def _reduce_codegen(kind: str):
    """LLVM IR for a reduction over a span of one or two arrays, in 8 vector lanes (k mod 8), then the
    lanes combined pairwise, then the tail in order. kind: "dot" (sum a b), "sum" (sum a), "max"."""

    def codegen(context, builder, sig, args):
        two = kind == "dot"
        arrays = [args[0], args[2]] if two else [args[0]]
        tys = [sig.args[0], sig.args[2]] if two else [sig.args[0]]
        starts = [args[1], args[3]] if two else [args[1]]
        start_tys = [sig.args[1], sig.args[3]] if two else [sig.args[1]]
        data = [context.make_array(t)(context, builder, v).data for t, v in zip(tys, arrays)]
        intp = context.get_value_type(types.intp)
        starts = [context.cast(builder, v, t, types.intp) for v, t in zip(starts, start_tys)]
        n = context.cast(builder, args[-1], sig.args[-1], types.intp)
        dtype = tys[0].dtype
        ft = context.get_value_type(dtype)
        vt = ir.VectorType(ft, _LANES)
        align = dtype.bitwidth // 8
        init = float("-inf") if kind == "max" else 0.0

        def element(k, typ):                         # the summand (or candidate) at offset k
            vals = [_load(builder, d, builder.add(s0, k), typ, align) for d, s0 in zip(data, starts)]
            return builder.fmul(*vals) if two else vals[0]

        def combine(acc, x):
            if kind == "max":
                return builder.select(builder.fcmp_ordered(">", x, acc), x, acc)
            return builder.fadd(acc, x)

        acc = cgutils.alloca_once_value(builder, ir.Constant(vt, [init] * _LANES))
        n_vec = builder.and_(n, ir.Constant(intp, -_LANES))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n_vec, ir.Constant(intp, _LANES)) as (k, _):
            builder.store(combine(builder.load(acc), element(k, vt)), acc)
        v = builder.load(acc)
        lanes = [builder.extract_element(v, ir.Constant(ir.IntType(32), i)) for i in range(_LANES)]
        while len(lanes) > 1:                                                       # pairwise, fixed
            lanes = [combine(lanes[i], lanes[i + 1]) for i in range(0, len(lanes), 2)]
        total = cgutils.alloca_once_value(builder, lanes[0])
        with cgutils.for_range_slice(builder, n_vec, n, ir.Constant(intp, 1)) as (k, _):
            builder.store(combine(builder.load(total), element(k, ft)), total)
        return builder.load(total)
    return codegen


def _float_vector(a) -> bool:
    return (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
            and a.dtype in (types.float32, types.float64))


@intrinsic
def dot_span(typingctx, a, ia, b, ib, n):
    """sum_{k < n} a[ia + k] b[ib + k] for 1-d C-contiguous arrays of one float dtype (no bounds
    check: the caller keeps the spans inside the arrays), in numba code only.

    Why: a sum in one running total waits for each addition in turn, and LLVM may split it into
    vector lanes only under fast-math's reassociation, which leaves the order to the compiler (the
    kernels' results then changed between a fresh compile and numba's cache; see kernels._FLAGS).
    Here the order is written down: 8 lanes (k mod 8) as one vector, the lanes added pairwise, then
    the tail; the same bits for every build. About 5x a running total on 128 float32 elements."""
    if not (_float_vector(a) and _float_vector(b) and a.dtype == b.dtype
            and all(isinstance(x, types.Integer) for x in (ia, ib, n))):
        return None
    return a.dtype(a, ia, b, ib, n), _reduce_codegen("dot")


@intrinsic
def sum_span(typingctx, a, ia, n):
    """sum_{k < n} a[ia + k], in `dot_span`'s fixed order (numba code only, no bounds check)."""
    if not (_float_vector(a) and isinstance(ia, types.Integer) and isinstance(n, types.Integer)):
        return None
    return a.dtype(a, ia, n), _reduce_codegen("sum")


@intrinsic
def max_span(typingctx, a, ia, n):
    """max_{k < n} a[ia + k] (-inf when n = 0; NaN elements are skipped, so a caller that goes on
    to use them, as the softmax does, still returns NaN). Numba code only, no bounds check."""
    if not (_float_vector(a) and isinstance(ia, types.Integer) and isinstance(n, types.Integer)):
        return None
    return a.dtype(a, ia, n), _reduce_codegen("max")


# ---------------------------------------------------------------- column sums over a matrix's rows

_BLOCK_BYTES = 256          # a block of columns: 4 AVX-512 or 8 AVX2 registers of accumulators


def _column_codegen(kind: str):
    """LLVM IR for out[i] = init_i (op) sum over rows j of a term, for every column i of a C-contiguous
    (M, N) matrix X, the rows added one after the other (j = 0, 1, ...) as a loop
    `for j: for i: out[i] += term` adds them, so the same bits. What differs is where the running
    sums live: a block of 256 bytes of columns at a time in vector registers, loaded and stored once
    per block, where that loop stores and reloads every column's sum once per row (each row then
    waits for the store of the one before). kind: "sq" (init 0, term X[j, i]^2), "dot" (init 0, term
    c[ic + j] X[j, i]), "dot_add" (init out[i], the same term), "dot2_sub" (init out[i], minus the
    term c[ic + j] (X[j, i] Y[j, i]))."""

    def codegen(context, builder, sig, args):
        out_t = sig.args[0]
        out = context.make_array(out_t)(context, builder, args[0])
        mats = [context.make_array(sig.args[k])(context, builder, args[k]) for k in
                ((1,) if kind == "sq" else (3,) if kind != "dot2_sub" else (3, 4))]
        M, N = cgutils.unpack_tuple(builder, mats[0].shape, 2)
        dtype, intp = out_t.dtype, context.get_value_type(types.intp)
        ft = context.get_value_type(dtype)
        lanes = _BLOCK_BYTES // (dtype.bitwidth // 8)
        vt = ir.VectorType(ft, lanes)
        align = dtype.bitwidth // 8
        if kind != "sq":
            c = context.make_array(sig.args[1])(context, builder, args[1]).data
            ic = context.cast(builder, args[2], sig.args[2], types.intp)

        def splat(x, typ):                               # a scalar in every lane of typ
            if not isinstance(typ, ir.VectorType):
                return x
            first = builder.insert_element(ir.Constant(typ, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(first, ir.Constant(typ, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))

        def block(i, typ):                               # columns i .. i + width(typ) - 1
            zero = ir.Constant(typ, [0.0] * lanes if isinstance(typ, ir.VectorType) else 0.0)
            start = zero if kind in ("sq", "dot") else _load(builder, out.data, i, typ, align)
            acc = cgutils.alloca_once_value(builder, start)
            with cgutils.for_range(builder, M) as loop:
                at = builder.add(builder.mul(loop.index, N), i)
                xs = [_load(builder, m.data, at, typ, align) for m in mats]
                if kind == "sq":
                    term = builder.fmul(xs[0], xs[0])
                else:
                    cj = splat(builder.load(cgutils.gep(builder, c, builder.add(ic, loop.index))), typ)
                    term = builder.fmul(cj, xs[0] if kind != "dot2_sub" else builder.fmul(xs[0], xs[1]))
                step = builder.fsub if kind == "dot2_sub" else builder.fadd
                builder.store(step(builder.load(acc), term), acc)
            builder.store(builder.load(acc), _at(builder, out.data, i, typ), align=align)

        n_vec = builder.and_(N, ir.Constant(intp, -lanes))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n_vec, ir.Constant(intp, lanes)) as (i, _):
            block(i, vt)
        with cgutils.for_range_slice(builder, n_vec, N, ir.Constant(intp, 1)) as (i, _):
            block(i, ft)
        return context.get_dummy_value()
    return codegen


def _float_matrix(X, dtype) -> bool:
    return isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C" and X.dtype == dtype


def _column_signature(out, c, ic, *mats):
    ok = _float_vector(out) and all(_float_matrix(X, out.dtype) for X in mats)
    if c is not None:
        ok = ok and _float_vector(c) and c.dtype == out.dtype and isinstance(ic, types.Integer)
    return types.void(*(a for a in (out, c, ic, *mats) if a is not None)) if ok else None


@intrinsic
def col_sq(typingctx, out, X):
    """out[i] = sum_j X[j, i]^2 over the rows of X (M, N), for each of its N columns (out (N,); both
    C-contiguous, one float dtype; no bounds check), the rows added in order: the bits of
    ``out[:] = 0; for j: for i: out[i] += X[j, i] * X[j, i]``. Numba code only.

    Why: in that loop every row reloads and stores each column's running sum, and waits for the row
    before's store; here a block of columns stays in vector registers over all the rows (the
    kernels' memory norms and content similarities, `kernels._memory_step`: 0.48 -> 0.20 us a sample
    and step for the norms and two heads' similarities, 20 x 128 float32; bench/README.md, "The
    eighth pass")."""
    sig = _column_signature(out, None, None, X)
    return (sig, _column_codegen("sq")) if sig else None


@intrinsic
def col_dot(typingctx, out, c, ic, X):
    """out[i] = sum_j c[ic + j] X[j, i] (out = X^T c[ic:ic + M]), rows in order, as `col_sq`."""
    sig = _column_signature(out, c, ic, X)
    return (sig, _column_codegen("dot")) if sig else None


@intrinsic
def col_dot_add(typingctx, out, c, ic, X):
    """out[i] += c[ic + j] X[j, i] for each row j in turn (`col_dot` added to out, term by term)."""
    sig = _column_signature(out, c, ic, X)
    return (sig, _column_codegen("dot_add")) if sig else None


@intrinsic
def col_dot2_sub(typingctx, out, c, ic, X, Y):
    """out[i] -= c[ic + j] (X[j, i] Y[j, i]) for each row j in turn (X, Y: the same shape)."""
    sig = _column_signature(out, c, ic, X, Y)
    return (sig, _column_codegen("dot2_sub")) if sig else None


# ---------------------------------------------------------------- a vector's dot with every row

_ROWS = 4                   # rows reduced together: 4 running sums in flight instead of one


def _rows_codegen(with_y: bool):
    """LLVM IR for out[io + j] = sum_i a[ia + i] X[j, i] (with_y: a[ia + i] (X[j, i] Y[j, i])) for
    every row j of X (M, N), each row summed in `dot_span`'s order (8 lanes, i mod 8, added pairwise,
    then the tail in order), so its bits; 4 rows at a time, so that 4 sums are in flight."""

    def codegen(context, builder, sig, args):
        out = context.make_array(sig.args[0])(context, builder, args[0]).data
        io = context.cast(builder, args[1], sig.args[1], types.intp)
        a = context.make_array(sig.args[2])(context, builder, args[2]).data
        ia = context.cast(builder, args[3], sig.args[3], types.intp)
        mats = [context.make_array(sig.args[k])(context, builder, args[k]) for k in ((4, 5) if with_y else (4,))]
        M, N = cgutils.unpack_tuple(builder, mats[0].shape, 2)
        dtype, intp = sig.args[0].dtype, context.get_value_type(types.intp)
        ft = context.get_value_type(dtype)
        vt = ir.VectorType(ft, _LANES)
        align = dtype.bitwidth // 8

        def term(j, k, typ):                             # a[ia + k] times row j's element k
            at = builder.add(builder.mul(j, N), k)
            x = _load(builder, mats[0].data, at, typ, align)
            if with_y:
                x = builder.fmul(x, _load(builder, mats[1].data, at, typ, align))
            return builder.fmul(_load(builder, a, builder.add(ia, k), typ, align), x)

        def rows(j0, count):                             # rows j0 .. j0 + count - 1
            js = [builder.add(j0, ir.Constant(intp, g)) for g in range(count)]
            accs = [cgutils.alloca_once_value(builder, ir.Constant(vt, [0.0] * _LANES)) for _ in js]
            n_vec = builder.and_(N, ir.Constant(intp, -_LANES))
            with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n_vec, ir.Constant(intp, _LANES)) as (k, _):
                for j, acc in zip(js, accs):
                    builder.store(builder.fadd(builder.load(acc), term(j, k, vt)), acc)
            for j, acc in zip(js, accs):
                v = builder.load(acc)
                lanes = [builder.extract_element(v, ir.Constant(ir.IntType(32), i)) for i in range(_LANES)]
                while len(lanes) > 1:
                    lanes = [builder.fadd(lanes[i], lanes[i + 1]) for i in range(0, len(lanes), 2)]
                total = cgutils.alloca_once_value(builder, lanes[0])
                with cgutils.for_range_slice(builder, n_vec, N, ir.Constant(intp, 1)) as (k, _):
                    builder.store(builder.fadd(builder.load(total), term(j, k, ft)), total)
                builder.store(builder.load(total), cgutils.gep(builder, out, builder.add(io, j)))

        m_grp = builder.and_(M, ir.Constant(intp, -_ROWS))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), m_grp, ir.Constant(intp, _ROWS)) as (j0, _):
            rows(j0, _ROWS)
        with cgutils.for_range_slice(builder, m_grp, M, ir.Constant(intp, 1)) as (j0, _):
            rows(j0, 1)
        return context.get_dummy_value()
    return codegen


def _rows_signature(out, io, a, ia, *mats):
    ok = (_float_vector(out) and _float_vector(a) and a.dtype == out.dtype
          and all(isinstance(x, types.Integer) for x in (io, ia))
          and all(_float_matrix(X, out.dtype) for X in mats))
    return types.void(out, io, a, ia, *mats) if ok else None


@intrinsic
def row_dots(typingctx, out, io, a, ia, X):
    """out[io + j] = sum_i a[ia + i] X[j, i] for every row j of X (M, N) (out[io:io + M] = X a):
    each row the bits of ``dot_span(a, ia, X[j], 0, N)``. C-contiguous arrays of one float dtype,
    no bounds check, numba code only.

    Why: `dot_span` keeps one running sum, each addition waiting for the one before (~3 cycles);
    a loop over rows of it waits on every row in turn. Here 4 rows' sums go together (the kernels'
    reads and the gradients of the add vectors and keys, `kernels._memory_step_backward`;
    bench/README.md, "The eighth pass")."""
    sig = _rows_signature(out, io, a, ia, X)
    return (sig, _rows_codegen(False)) if sig else None


@intrinsic
def row_dots2(typingctx, out, io, a, ia, X, Y):
    """out[io + j] = sum_i a[ia + i] (X[j, i] Y[j, i]), as `row_dots` (X, Y: the same shape): each row
    the bits of ``v = X[j] * Y[j]; dot_span(a, ia, v, 0, N)``."""
    sig = _rows_signature(out, io, a, ia, X, Y)
    return (sig, _rows_codegen(True)) if sig else None


# ---------------------------------------------------------------- prefetching

_LINE = 64                  # bytes in a cache line on x86-64 and most ARM cores


@intrinsic
def prefetch(typingctx, a):
    """prefetch(a): ask the CPU to bring the C-contiguous array a (any dimensions) into its
    second-level cache: `llvm.prefetch` for reading with locality 2 (prefetcht1 on x86-64, prfm on
    ARM, nothing where there is none), once for every 64 bytes from a's first (where a does not
    start on a line, its last line may be left out). A hint: no value changes, so the program's
    results are the same bits with or without it. Numba code only.

    Why (bench/README.md, "The tenth pass"): the kernels write and later read what the gradient
    needs for every sample and step, ~21 KB in 17 arrays, at places the caches have not held since
    the last batch; the hardware's prefetchers, following 17 streams at once, left the loops waiting
    on the lines. Asked for one sample ahead, each kernel took ~10 % less time (medians of paired
    runs). A read hint into the second-level cache did at least as well as prefetchw (a write hint
    into the first-level cache), where the sample being computed needs the room."""
    if not (isinstance(a, types.Array) and a.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        base = builder.bitcast(arr.data, i8p)
        nbytes = builder.mul(arr.nitems, arr.itemsize)
        name = "llvm.prefetch.p0" if getattr(i8p, "is_opaque", False) else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
        read, locality, data = (ir.Constant(i32, v) for v in (0, 2, 1))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), nbytes, ir.Constant(intp, _LINE)) as (k, _):
            builder.call(fn, [builder.gep(base, [k]), read, locality, data])
        return context.get_dummy_value()
    return types.void(a), codegen
