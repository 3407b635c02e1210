"""Which input entries each output entry of a layer meets, asked of the tensor table itself.

The windows, strides and paddings of conv1d, conv2d and the pools are defined once, in the tensor
table (``TENSOR_OPS``). The layer builders (one scalar line per output) and the layer documents
(routing tables, zoomed-in sums) both ask the table here instead of redoing its arithmetic. The
table evaluates exact numbers (signs and maxima are decided on their approximations), so it is
asked with indicator tensors rather than symbols: the op applied to the input's positions 1 … n
with a unit kernel (one kernel entry 1, the rest 0) returns, at each output, the position that
kernel entry meets there (0 where it meets the zero padding); a pool applied to one input's
indicator is 1 at the outputs whose window holds it.
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


def indicator(shape: tuple, at: int) -> Tensor:
    """Zeros of ``shape`` with a 1 at flat position ``at``."""
    return from_entries([sp.S.One if i == at else sp.S.Zero for i in range(int(np.prod(shape)))], shape)


def conv_taps(op: str, x_shape: tuple, k_shape: tuple, stride: int, padding: int) -> tuple[tuple, list]:
    """(output shape, per output entry in row-major order the (kernel, input) flat positions it
    sums, in kernel order) of ``op`` (conv1d or conv2d) from the table itself."""
    n = int(np.prod(x_shape))
    positions = from_entries([sp.Integer(i) for i in range(1, n + 1)], x_shape)
    settings = [scalar(sp.Integer(stride)), scalar(sp.Integer(padding))]
    numbers = (None, None, sp.Integer(stride), sp.Integer(padding))
    taps, out_shape = None, None
    for m in range(int(np.prod(k_shape))):
        met = apply(op, [positions, indicator(k_shape, m), *settings], numbers)
        out_shape, taps = met.shape, taps or [[] for _ in range(met.size)]
        for j, position in enumerate(met.a.ravel()):
            if position != 0:
                taps[j].append((m, int(position) - 1))
    return out_shape, taps


def pool_windows(shape: tuple, size: int, stride: int, op: str = "maxpool2d") -> tuple[tuple, list[list[int]]]:
    """(output shape, the flat input positions of each output's window, row-major). For an image,
    the table's pool ``op`` applied to each input's indicator: an output is nonzero where its
    window holds that input. For a vector (the table pools images only), the windows of
    ``conv1d`` with a kernel of the window's length: where that kernel sits is a window."""
    if len(shape) == 2:
        out_shape, taps = conv_taps("conv1d", shape, (size, 1), stride, 0)
        return out_shape, [[i for _, i in met] for met in taps]
    windows, seen = None, None
    for i in range(int(np.prod(shape))):
        seen = apply(op, [indicator(shape, i), scalar(sp.Integer(size)), scalar(sp.Integer(stride))],
                     (None, sp.Integer(size), sp.Integer(stride)))
        windows = windows or [[] for _ in range(seen.size)]
        for j, hit in enumerate(seen.a.ravel()):
            if hit != 0:
                windows[j].append(i)
    return seen.shape, windows


__all__ = ["apply", "conv_taps", "indicator", "pool_windows"]
