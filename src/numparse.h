/*
 * numparse.h - locale-independent number parsing and formatting.
 * The process locale may use ',' as decimal point (LightGBM's mistake was to
 * switch the process-wide locale); these functions never depend on it and
 * never change it.
 */
#ifndef ESMM__NUMPARSE_H
#define ESMM__NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parse exactly s[0..len) as a decimal float ("1", "-2.5e-3", "inf",
 * "nan" are accepted; the caller decides about non-finite values).
 * Returns 0 on success, -1 when the text is not a number. Correctly rounded. */
int esmm__parse_double(const char *s, size_t len, double *out);

/* Parse exactly s[0..len) as an unsigned decimal below 2^64 (no sign, no
 * spaces). Returns 0, or -1 (not a number), or -2 (overflow). */
int esmm__parse_u64(const char *s, size_t len, uint64_t *out);

/* Parse exactly s[0..len) as a signed decimal int64. 0, -1 or -2. */
int esmm__parse_i64(const char *s, size_t len, int64_t *out);

/* Shortest "%g" text (C locale) that reads back to the same double; buf
 * must hold 32 bytes. Returns the length. */
int esmm__format_double(double x, char *buf);
/* Same for a float (at most 9 significant digits). */
int esmm__format_float(float x, char *buf);

#endif /* ESMM__NUMPARSE_H */
