/* numparse.c - locale-independent decimal parsing and formatting.
 *
 * Parsing: the common case (<= 19 significant digits, |exponent| <= 22,
 * mantissa < 2^53) is exact with one multiplication or division (Clinger's
 * fast path). Anything else is handed to strtod_l with a "C" locale object,
 * which is correctly rounded; that path is rare in real data. */
#ifndef _GNU_SOURCE /* the amalgamation sets it once for all files */
#define _GNU_SOURCE
#endif
#include "numparse.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int ieq(const char *s, size_t len, const char *word) {
  size_t n = strlen(word);
  if (len != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != word[i])
      return 0;
  }
  return 1;
}

static int slow_path(const char *s, size_t len, double *out) {
  char buf[512];
  char *end = NULL;
  locale_t c;
  if (len >= sizeof buf)
    return -1; /* no sane decimal float needs 512 characters */
  memcpy(buf, s, len);
  buf[len] = '\0';
  c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (c == (locale_t)0)
    return -1;
  *out = strtod_l(buf, &end, c);
  freelocale(c);
  return (end == buf + len) ? 0 : -1;
}

int esmm__parse_double(const char *s, size_t len, double *out) {
  size_t i = 0;
  int neg = 0, digits = 0, sig = 0, exp10 = 0, any = 0;
  uint64_t mant = 0;
  if (len == 0)
    return -1;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i++;
  }
  if (ieq(s + i, len - i, "inf") || ieq(s + i, len - i, "infinity")) {
    *out = neg ? -INFINITY : INFINITY;
    return 0;
  }
  if (ieq(s + i, len - i, "nan")) {
    *out = NAN;
    return 0;
  }
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
    if (mant == 0 && s[i] == '0')
      continue; /* leading zeros carry no significance */
    if (sig < 19) {
      mant = mant * 10 + (uint64_t)(s[i] - '0');
      sig++;
    } else {
      exp10++;
      digits = 1; /* digits dropped: fast path impossible */
    }
  }
  if (i < len && s[i] == '.') {
    i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
      if (mant == 0 && s[i] == '0') {
        exp10--;
        continue;
      }
      if (sig < 19) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        sig++;
        exp10--;
      } else {
        digits = 1;
      }
    }
  }
  if (!any)
    return -1;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    int eneg = 0, e = 0, edig = 0;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, edig++)
      if (e < 100000)
        e = e * 10 + (s[i] - '0');
    if (!edig)
      return -1;
    exp10 += eneg ? -e : e;
  }
  if (i != len)
    return -1;
  if (!digits && mant < (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
    double d = (double)mant;
    d = exp10 < 0 ? d / pow10_tab[-exp10] : d * pow10_tab[exp10];
    *out = neg ? -d : d;
    return 0;
  }
  return slow_path(s, len, out);
}

int esmm__parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (d > 9)
      return -1;
    if (v > (UINT64_MAX - d) / 10)
      return -2;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int esmm__parse_i64(const char *s, size_t len, int64_t *out) {
  uint64_t u;
  int neg = 0, rc;
  if (len && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s++;
    len--;
  }
  rc = esmm__parse_u64(s, len, &u);
  if (rc)
    return rc;
  if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
    return -2;
  *out = neg ? (int64_t)(0 - u) : (int64_t)u;
  return 0;
}

/* snprintf in the C locale, whatever the process locale is. */
static int format_c(char *buf, int prec, double x) {
  locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = c ? uselocale(c) : (locale_t)0;
  int n = snprintf(buf, 32, "%.*g", prec, x);
  if (c) {
    uselocale(old);
    freelocale(c);
  }
  return n;
}

/* The shortest "%.<p>g" text that reads back to x (so 0.9 prints as "0.9",
 * not "0.90000000000000002"). */
static int format_shortest(double x, char *buf, int max_prec) {
  int n = 0;
  for (int p = 1; p <= max_prec; p++) {
    double back;
    n = format_c(buf, p, x);
    if (esmm__parse_double(buf, (size_t)n, &back) == 0 && back == x)
      return n;
  }
  return n;
}

int esmm__format_double(double x, char *buf) {
  if (!isfinite(x))
    return format_c(buf, 17, x);
  if (x == floor(x) && fabs(x) < 1e17) /* integers in full: 1000000000, not 1e+09 */
    return snprintf(buf, 32, "%.0f", x); /* no decimal point: locale-free */
  return format_shortest(x, buf, 17);
}

/* Data files keep "%.9g": always exact, and the files' bytes are pinned by
 * tests and by users' diffs. */
int esmm__format_float(float x, char *buf) { return format_c(buf, 9, (double)x); }
