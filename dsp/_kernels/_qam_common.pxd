# Inline helpers shared by the QAM kernels (_modqam, _modmap); cimport, no module of its own.
from libc.math cimport floor


cdef inline long qam_level(double u, double scale, long nlev) noexcept nogil:
    """Index (0..nlev-1, nearest, from the top) of the PAM level of one axis value ``u`` (unit-energy QAM
    scaled by ``scale`` to odd integers)."""
    cdef double p = floor(((nlev - 1) - u * scale) / 2.0 + 0.5)
    if p < 0:
        return 0
    if p > nlev - 1:
        return nlev - 1
    return <long>p
