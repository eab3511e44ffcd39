"""NumPy twin of ``_chirp.pyx``: AFDM chirp multiplications fused with the chirp-periodic prefix.

Same functions, signatures and results (to rounding) as the compiled kernel. Both return an int
status: 0 ok, 1 shape mismatch.
"""



def chirp_prefix(body, chirp, pre, out):
    """out[b, cp + n] = body[b, n] * chirp[n];  out[b, i] = out[b, N + i] * pre[i]  (i < cp = len(pre)).

    body (B, N), chirp (N,), pre (cp,), out (B, cp + N); out's dtype sets the precision of the result.
    """
    B, N = body.shape
    cp = pre.shape[0]
    if out.shape[0] != B or out.shape[1] != cp + N or chirp.shape[0] != N or cp > N:
        return 1
    out[:, cp:] = body * chirp
    if cp:
        out[:, :cp] = out[:, N: N + cp] * pre
    return 0


def dechirp(y, cp, chirp, out):
    """out[b, n] = y[b, cp + n] * chirp[n] for n < N = len(chirp); y (B, >= cp + N), out (B, N).

    The product is formed in double precision and rounded to out's dtype (complex64 or complex128)."""
    B, N = out.shape
    if y.shape[0] != B or y.shape[1] < cp + N or chirp.shape[0] != N or cp < 0:
        return 1
    out[:] = y[:, cp: cp + N] * chirp  # y promoted to complex128 by chirp, cast on assignment
    return 0
