"""Which input entries each output entry of a layer meets, asked of the tensor table itself.

The windows, strides and paddings of conv1d, conv2d and the pools are defined once, in the tensor
table (``TENSOR_OPS``). The layer builders (one scalar line per output) and the layer documents
(routing tables, zoomed-in sums) both ask the table here instead of redoing its arithmetic. The
table evaluates exact numbers (signs and maxima are decided on their approximations), so it is
asked with integer probes rather than symbols, once or twice per layer:

* a convolution of the input's positions 1 … n with the kernel whose entry m is B^m (B = n + 1):
  each output is Σ_m B^m · (the position kernel entry m meets there, 0 in the padding), whose
  base-B digits are those positions — every window of every channel from one evaluation;
* a max-pool of the positions gives each window's last entry, of the negated positions its
  first: a window is the block of rows and columns between them, in its channel.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from .tensor import TENSOR_OPS, Site, Tensor, Where, from_entries, scalar


def apply(op: str, operands: list, numbers: tuple) -> Tensor:
    """The table entry ``op`` applied as an equation applies it: its shape rule first (which
    refuses a misfit by name), then its evaluation. ``numbers`` are the settings written among
    the operands (None for a tensor operand)."""
    spec = TENSOR_OPS[op]
    site = Site(tuple(t.shape for t in operands), (), numbers, Where(None, ("x", "the kernel")))
    return spec.evaluate(tuple(operands), replace(site, out=spec.shape(site)))


def _positions(shape: tuple, sign: int = 1) -> Tensor:
    """The flat positions 1 … n of a tensor of ``shape`` (negated for ``sign`` −1)."""
    return from_entries([sp.Integer(sign * i) for i in range(1, int(np.prod(shape)) + 1)], shape)


def conv_taps(op: str, x_shape: tuple, k_shape: tuple, stride: int, padding: int) -> tuple[tuple, list]:
    """(output shape, per output entry in row-major order the (kernel, input) flat positions it
    sums, in kernel order) of ``op`` (conv1d or conv2d), from one evaluation of the table's entry
    on a probe whose base-B digits are the positions met."""
    base, size = int(np.prod(x_shape)) + 1, int(np.prod(k_shape))
    probe = from_entries([sp.Integer(base) ** m for m in range(size)], k_shape)
    met = apply(op, [_positions(x_shape), probe, scalar(sp.Integer(stride)), scalar(sp.Integer(padding))],
                (None, None, sp.Integer(stride), sp.Integer(padding)))
    taps = []
    for value in met.a.ravel():
        value, found = int(value), []
        for m in range(size):
            value, position = divmod(value, base)
            if position:
                found.append((m, position - 1))
        taps.append(found)
    return met.shape, taps


def pool_windows(shape: tuple, size: int, stride: int) -> tuple[tuple, list[list[int]]]:
    """(output shape, the flat input positions of each output's window, row-major). For an image,
    the table's ``maxpool2d`` of the positions and of their negatives: each window's last and
    first entry, and the block of rows and columns between them (max- and average-pooling share
    their windows). For a vector (the table pools images only), the windows of ``conv1d`` with a
    kernel of the window's length: where that kernel sits is a window."""
    if len(shape) == 2:
        out_shape, taps = conv_taps("conv1d", shape, (size, 1), stride, 0)
        return out_shape, [[i for _, i in met] for met in taps]
    settings = [scalar(sp.Integer(size)), scalar(sp.Integer(stride))]
    numbers = (None, sp.Integer(size), sp.Integer(stride))
    last, first = (apply("maxpool2d", [_positions(shape, sign), *settings], numbers) for sign in (1, -1))
    windows = []
    for hi, lo in zip(last.a.ravel(), first.a.ravel()):
        (c, r0, c0), (_, r1, c1) = (np.unravel_index(abs(int(v)) - 1, shape) for v in (lo, hi))
        windows.append([int(np.ravel_multi_index((c, r, col), shape))
                        for r in range(r0, r1 + 1) for col in range(c0, c1 + 1)])
    return last.shape, windows


__all__ = ["apply", "conv_taps", "pool_windows"]
