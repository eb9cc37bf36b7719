#!/usr/bin/python3
"""flops.py: FLOPs per training sample of the MLP and the 1D-CNN, counted in one place.

The convention is fedalign's `bench_flops_train_sample()` (src/bench_common.c): only the
multiply-adds of the products count, 2 FLOP each, for
  forward           every layer's products,
  weight gradients  the same count again,
  input gradients   every layer but the first (its input needs no gradient).
Biases, ReLU, pooling, softmax and the optimizer step are not counted (a few per output,
not per product). analysis/peer_torch.py and analysis/roofline.py take their figures from
here, and tests/e2e/test_peer_torch.sh checks the MLP count against `fedalign bench train`.

A 1D convolution with C_in input and C_out output channels, kernel K and L_out output
positions is L_out * C_out * C_in * K multiply-adds; `valid` padding gives
L_out = L_in - K + 1, `same` (odd K) gives L_out = L_in; each block then max-pools by 2
(floor). The head is global average pooling, then dense layers like the MLP's.
"""


def dense_macs(sizes):
    """multiply-adds per sample of the dense layers sizes[0] -> sizes[1] -> ..., per layer"""
    return [a * b for a, b in zip(sizes[:-1], sizes[1:])]


def conv_shapes(length, channels, convs, pad="valid"):
    """[(L_in, C_in, C_out, K, L_out)] of the conv blocks and the pooled length after the last;
    convs: [(C_out, K)]. Raises ValueError when a window is too short for the blocks."""
    out, L, C = [], length, channels
    for co, k in convs:
        if pad == "same" and k % 2 == 0:
            raise ValueError(f"'same' padding needs odd kernels, got {k} in {convs}")
        lo = L - k + 1 if pad == "valid" else L
        if lo < 2:
            raise ValueError(f"window of {length} too short for conv blocks {convs} ({pad} padding)")
        out.append((L, C, co, k, lo))
        L, C = lo // 2, co
    return out, L


def train_flops(layer_macs):
    """training FLOPs per sample from the per-layer multiply-adds (first layer first)"""
    fwd = 2 * sum(layer_macs)
    return fwd + fwd + 2 * sum(layer_macs[1:])


def mlp_flops(sizes):
    """MLP sizes [d_in, hidden..., k]: training FLOPs per sample (6-64-32-6: 14,976)"""
    return train_flops(dense_macs(sizes))


def cnn_flops(length, channels, convs, hidden, classes, pad="valid"):
    """1D-CNN training FLOPs per sample: conv blocks, global average pooling, dense head"""
    shapes, _ = conv_shapes(length, channels, convs, pad)
    macs = [lo * co * ci * k for (_, ci, co, k, lo) in shapes]
    last = shapes[-1][2] if shapes else channels
    return train_flops(macs + dense_macs([last, *hidden, classes]))


if __name__ == "__main__":
    print(f"mlp 6-64-32-6: {mlp_flops([6, 64, 32, 6])} FLOP per training sample")
    print(f"cnn 1024x1 16:7,32:5 -> 10: {cnn_flops(1024, 1, [(16, 7), (32, 5)], [], 10)}")
