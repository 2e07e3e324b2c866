/* opttab.c - the one option-table engine (opttab.h). */
#include "opttab.h"

#include "internal.h"
#include "numparse.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int esmm__opt_find(const esmm__opttab *t, int opt) {
  for (size_t i = 0; i < t->n; i++)
    if (t->row[i].name && t->row[i].opt == opt)
      return (int)i;
  return -1;
}

int esmm__opt_find_name(const esmm__opttab *t, const char *name, int also_ident) {
  for (size_t i = 0; i < t->n; i++)
    if (t->row[i].name &&
        (strcmp(t->row[i].name, name) == 0 || (also_ident && strcmp(t->row[i].ident, name) == 0)))
      return (int)i;
  return -1;
}

/* Edit distance of two short strings: optimal string alignment, where
 * insertions, deletions, substitutions and transpositions of neighbours
 * ("trian" -> "train") cost 1. Longer than 64 bytes: "far". */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), pp[65], prev[65], cur[65];
  if (la > 64 || lb > 64)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    prev[j] = pp[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]), del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < cur[j])
        cur[j] = pp[j - 2] + 1;
    }
    memcpy(pp, prev, (lb + 1) * sizeof *pp);
    memcpy(prev, cur, (lb + 1) * sizeof *prev);
  }
  return prev[lb];
}

/* A typo is at most a third of the name's length away (at least 1, at
 * most 3): "bach_size" finds batch_size, "x" finds nothing. */
const char *esmm__opt_nearest(const esmm__opttab *t, const char *name) {
  const char *best = NULL;
  size_t best_d = 99, limit = strlen(name) / 3;
  limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
  for (size_t i = 0; i < t->n; i++) {
    size_t d = t->row[i].name ? edit_distance(name, t->row[i].name) : 99;
    if (d < best_d) {
      best_d = d;
      best = t->row[i].name;
    }
  }
  for (size_t k = 0; t->extra_names && t->extra_names[k]; k++) {
    size_t d = edit_distance(name, t->extra_names[k]);
    if (d < best_d) {
      best_d = d;
      best = t->extra_names[k];
    }
  }
  return best_d <= limit ? best : NULL;
}

int esmm__opt_unknown_name(const esmm__opttab *t, const char *name, const char *func) {
  const char *near = esmm__opt_nearest(t, name);
  if (near)
    return esmm__error(ESMM_EINVAL, func, "unknown %s name \"%s\" (did you mean %s?)", t->kind, name, near);
  return esmm__error(ESMM_EINVAL, func, "unknown %s name \"%s\"", t->kind, name);
}

int esmm__opt_unknown(const esmm__opttab *t, int opt, const char *func) {
  return esmm__error(ESMM_EINVAL, func, "unknown %s %d", t->kind, opt);
}

static const char *row_label(const esmm__optrow *o, int by_name) { return by_name ? o->name : o->ident; }

static int bounds_error(const esmm__optrow *o, int by_name, const char *got, const char *func) {
  char a[32], b[32];
  esmm__format_double(o->min, a);
  if (o->type != ESMM__OT_FLOAT && o->max >= ESMM__OT_I64_END)
    return esmm__error(ESMM_EINVAL, func, "%s must be in %c%s, 2^63), got %s", row_label(o, by_name),
                       o->min_open ? '(' : '[', a, got);
  esmm__format_double(o->max, b);
  return esmm__error(ESMM_EINVAL, func, "%s must be in %c%s, %s%c, got %s", row_label(o, by_name),
                     o->min_open ? '(' : '[', a, b, o->max_open ? ')' : ']', got);
}

static int in_bounds(const esmm__optrow *o, double v) {
  int low = o->min_open ? !(v > o->min) : !(v >= o->min);
  int high = o->max_open ? !(v < o->max) : !(v <= o->max);
  return !isnan(v) && !low && !high;
}

int esmm__opt_check(const esmm__opttab *t, int r, int by_name, esmm__optvalue v, esmm__optvalue *out,
                    const char *func) {
  const esmm__optrow *o = &t->row[r];
  char got[32];
  if (o->type == ESMM__OT_LIST)
    return esmm__error(ESMM_EINVAL, func, "%s is a list %s", row_label(o, by_name), t->kind);
  if (o->type == ESMM__OT_FLOAT) {
    double f = v.is_int ? (double)v.i : v.f;
    if (!in_bounds(o, f)) {
      esmm__format_double(f, got);
      return bounds_error(o, by_name, got, func);
    }
    out->is_int = 0;
    out->i = 0;
    out->f = f;
    return ESMM_OK;
  }
  if (!v.is_int) {
    esmm__format_double(v.f, got);
    if (!(v.f == floor(v.f)))
      return esmm__error(ESMM_EINVAL, func, "%s takes an integer value, got %s", row_label(o, by_name), got);
    /* 2^63 is exactly representable; everything below it converts */
    if (!(v.f >= -ESMM__OT_I64_END && v.f < ESMM__OT_I64_END) || !in_bounds(o, v.f))
      return bounds_error(o, by_name, got, func);
    v.i = (int64_t)v.f;
  } else if (!in_bounds(o, (double)v.i)) {
    snprintf(got, sizeof got, "%lld", (long long)v.i);
    return bounds_error(o, by_name, got, func);
  }
  out->is_int = 1;
  out->i = v.i;
  out->f = (double)v.i;
  return ESMM_OK;
}

/* "x: "v" is not one of a, b, c" for a bad enum value. */
static int enum_error(const esmm__optrow *o, const char *text, const char *func) {
  char list[256];
  size_t at = 0;
  list[0] = '\0';
  for (int k = 0; o->enum_names[k] && at < sizeof list; k++)
    at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", o->enum_names[k]);
  return esmm__error(ESMM_EINVAL, func, "%s: \"%s\" is not one of %s", o->name, text, list);
}

int esmm__opt_parse(const esmm__opttab *t, int r, const char *text, esmm__optvalue *out, const char *func) {
  const esmm__optrow *o = &t->row[r];
  size_t len = strlen(text);
  esmm__optvalue v = {1, 0, 0.0};
  int rc;
  if (o->type == ESMM__OT_LIST)
    return esmm__error(ESMM_EINVAL, func, "%s is a list %s", o->name, t->kind);
  if (o->type == ESMM__OT_ENUM) {
    for (int k = 0; o->enum_names[k]; k++)
      if (strcmp(o->enum_names[k], text) == 0) {
        v.i = k;
        return esmm__opt_check(t, r, 1, v, out, func);
      }
    /* a number is accepted too (the value esmm_config_set_int takes) */
    if (esmm__parse_i64(text, len, &v.i) != 0)
      return enum_error(o, text, func);
    return esmm__opt_check(t, r, 1, v, out, func);
  }
  if (o->type == ESMM__OT_INT) {
    rc = esmm__parse_i64(text, len, &v.i);
    if (rc == 0)
      return esmm__opt_check(t, r, 1, v, out, func);
    if (rc == -2)
      return esmm__error(ESMM_EINVAL, func, "%s: \"%s\" is out of range", o->name, text);
    /* "1e6" is a fine way to write a count: integral floats are accepted */
  }
  v.is_int = 0;
  if (esmm__parse_double(text, len, &v.f) != 0)
    return esmm__error(ESMM_EINVAL, func, "%s: \"%s\" is not a number", o->name, text);
  return esmm__opt_check(t, r, 1, v, out, func);
}
