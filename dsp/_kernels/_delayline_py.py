"""NumPy twin of ``_delayline.pyx`` (reference implementation, same signature and results to rounding).

See the header of ``_delayline.pyx`` for the model. The twin evaluates the per-sample exponent
directly (exp of the polynomial) where the kernel uses forward differences, accumulates in float64
where the kernel uses float32, and computes the noise's ln/sin/cos with NumPy where the kernel uses
float32 polynomials (the 64-bit counter hash and the uniforms are bit-exact in both); both round the
output to complex64.
"""

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def noise(key, n_lo, n_hi):
    """Unit-power complex Gaussian noise w(n), n = n_lo .. n_hi - 1 (counter-based; see the kernel header)."""
    n = np.arange(n_lo + 1, n_hi + 1, dtype=np.uint64)
    z = np.uint64(key) + n * _GAMMA  # uint64 arrays wrap modulo 2^64, as C does
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    hi = (z >> np.uint64(32)).astype(np.uint32)
    lo = (z & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    u = ((hi >> np.uint32(1)).astype(np.int32).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-31)
    return np.sqrt(-np.log(u.astype(np.float64))) * np.exp(2j * np.pi * (lo.astype(np.float64) * 2.0**-32))


def run(x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end=-1):
    """Run the delay line over one chunk. Returns ``(status, where)`` exactly as the kernel does."""
    x = np.asarray(x)
    m = x.shape[0]
    if tab.shape[1] % 8 or tab.shape[0] < 2:
        return -3, -1
    L = tab.shape[1] // 2  # each coefficient is stored twice (for I and Q), as the kernel wants
    tab = tab[:, 0::2]
    P = tab.shape[0] - 1
    npath = dcoef.shape[1] // 4
    size = ring.shape[0] - L
    mask = size - 1
    half = L // 2
    S = int(seg_len)
    n0 = int(n0)
    seg0 = int(seg0)
    if S <= 0 or n0 < 0:
        return -3, -1
    if m == 0:
        return 0, -1
    n_end = n0 + m
    if (out.shape[0] != m or pcoef.shape[1] != 8 * npath or pcoef.shape[0] != dcoef.shape[0]
            or dcoef.shape[1] != 4 * npath or size <= 0 or (size & mask) != 0 or size > (1 << 31)):
        return -3, -1
    if dcoef.shape[0] < (n_end - 1) // S - seg0 + 1 or seg0 > n0 // S:
        return -3, -1
    use_noise = noise_amp != 0.0
    taps = np.arange(L)
    s = seg0
    while s * S < n_end:
        r = s - seg0
        seg_start = s * S
        lo = max(seg_start, n0)
        hi = min(seg_start + S, n_end)
        idx = np.arange(lo, hi)
        if written_end < 0:
            pos = idx & mask
            ring[pos] = x[lo - n0:hi - n0]
            mir = pos < L
            ring[size + pos[mir]] = x[lo - n0:hi - n0][mir]
            oldest = hi - size
        else:
            oldest = written_end - size
        if use_noise:
            acc = np.float32(noise_amp) * noise(noise_key, lo, hi)
        else:
            acc = np.zeros(hi - lo, np.complex128)
        j = (idx - seg_start).astype(np.float64)
        for p in range(npath):
            a = pcoef[r, 8 * p:8 * p + 4]
            b = pcoef[r, 8 * p + 4:8 * p + 8]
            if a[0] == -np.inf:
                continue
            e = dcoef[r, 4 * p:4 * p + 4]
            D = ((e[3] * j + e[2]) * j + e[1]) * j + e[0]
            pr = j - D
            fl = np.floor(pr)
            mu = pr - fl
            k = seg_start + fl.astype(np.int64)
            bad = np.nonzero(k + half > idx)[0]
            bad_long = np.nonzero(k - half + 1 < oldest)[0]
            if bad.size or bad_long.size:
                first_short = bad[0] if bad.size else m + 1
                first_long = bad_long[0] if bad_long.size else m + 1
                if first_short <= first_long:
                    return -1, int(idx[first_short])
                return -2, int(idx[first_long])
            q = np.floor(mu * P + 0.5).astype(np.int64)             # nearest tabulated fraction
            h = tab[q]                                              # (n, L) float32, as the kernel
            start = (k - half + 1) & mask
            win = ring[start[:, None] + taps[None, :]]              # contiguous thanks to the mirror
            y = np.sum(h.astype(np.float64) * win.astype(np.complex128), axis=1)
            amp = ((a[3] * j + a[2]) * j + a[1]) * j + a[0]
            cyc = np.mod(((b[3] * j + b[2]) * j + b[1]) * j + b[0], 1.0)
            acc += np.exp(amp + 2j * np.pi * cyc) * y
        out[lo - n0:hi - n0] = acc.astype(np.complex64)
        s += 1
    return 0, -1


def write(x, ring, n0, taps):
    """Write input samples ``n0 ..`` into the ring and its mirror; 0, or -3 if ``x`` exceeds the ring."""
    x = np.asarray(x)
    size = ring.shape[0] - taps
    mask = size - 1
    m = x.shape[0]
    if size <= 0 or (size & mask) != 0 or m > size or n0 < 0:
        return -3
    pos = (np.arange(n0, n0 + m)) & mask
    ring[pos] = x
    mir = pos < taps
    ring[size + pos[mir]] = x[mir]
    return 0


class Pool:
    """Twin of the kernel's ``Pool``: the same ranges, computed one after another in the calling thread
    (:meth:`start` computes them all; :meth:`finish` returns the result)."""

    def __init__(self, workers):
        self.workers = 0
        self._open = True
        self._result = None

    @property
    def pending(self):
        return self._result is not None

    def close(self):
        self._result = None
        self._open = False

    def run(self, x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end, cuts):
        """:func:`run` over the ranges of one chunk cut at ``cuts``; the first failure in sample order."""
        r = self.start(x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end, cuts)
        return r if r is not None else self.finish()

    def start(self, x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end, cuts):
        if not self._open:
            raise ValueError("delay line pool: closed")
        if self._result is not None:
            raise ValueError("delay line pool: a call is pending (finish() it first)")
        m = len(x)
        if m == 0:
            return 0, -1
        bounds = [n0, *[int(c) for c in cuts], n0 + m]
        if any(a >= b for a, b in zip(bounds[:-1], bounds[1:])):
            return -3, -1
        self._result = (0, -1)
        for a, b in zip(bounds[:-1], bounds[1:]):
            r0, r1 = a // seg_len - seg0, (b - 1) // seg_len - seg0 + 1
            status, where = run(x[a - n0:b - n0], out[a - n0:b - n0], ring, a, dcoef[r0:r1], pcoef[r0:r1],
                                a // seg_len, seg_len, tab, noise_key, noise_amp, written_end)
            if status != 0:
                self._result = (status, where)
                break
        return None

    def finish(self):
        if self._result is None:
            raise ValueError("delay line pool: no call is pending")
        r, self._result = self._result, None
        return r
