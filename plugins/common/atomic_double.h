/*
 * atomic_double.h - doubles kept in _Atomic uint64_t.
 *
 * C11 has no portable lock-free atomic double; policies store an estimate's
 * bit pattern in an _Atomic uint64_t (lock-free on every target azroute
 * supports) and convert on the way in and out. memcpy is the defined way to
 * reinterpret the bits and compiles to a register move.
 */
#ifndef AZR_PLUGINS_COMMON_ATOMIC_DOUBLE_H
#define AZR_PLUGINS_COMMON_ATOMIC_DOUBLE_H

#include <stdint.h>
#include <string.h>

/* The bit pattern of `d`. */
static inline uint64_t azr__double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The double whose bit pattern is `u`. */
static inline double azr__bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif /* AZR_PLUGINS_COMMON_ATOMIC_DOUBLE_H */
