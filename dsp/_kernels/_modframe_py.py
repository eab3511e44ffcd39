"""NumPy twin of ``_modframe.pyx``: the transpose-and-prefix step shared by the block waveforms.

A grid ``src[b, q, n]`` (q = sample within a block, n = block) becomes the frame
``[frame CP][block 0: block CP, q = 0..M-1][block 1] ...``, i.e.
``out[b, fcp + n (M + bcp) + bcp + q] = src[b, q, n]``, each block CP a copy of its block's tail and
the frame CP a copy of the frame's tail. ``gather`` is the reverse (prefixes dropped). Status: 0 ok, 2 shape mismatch.
"""


def place(src, fcp, bcp, out):
    B, M, N = src.shape
    if out.shape[0] != B or out.shape[1] != fcp + N * (M + bcp) or bcp > M or fcp > N * (M + bcp):
        return 2
    blocks = out[:, fcp:].reshape(B, N, M + bcp)
    blocks[:, :, bcp:] = src.transpose(0, 2, 1)
    if bcp:
        blocks[:, :, :bcp] = blocks[:, :, M:]
    if fcp:
        out[:, :fcp] = out[:, out.shape[1] - fcp:]
    return 0


def gather(y, fcp, bcp, out):
    B, M, N = out.shape
    if y.shape[0] != B or y.shape[1] != fcp + N * (M + bcp):
        return 2
    out[:] = y[:, fcp:].reshape(B, N, M + bcp)[:, :, bcp:].transpose(0, 2, 1)
    return 0
