/*
 * opttab.h - the one option-table engine.
 *
 * The configuration (config.c) and the simulator (sim.c) both expose
 * options as an id, a by-name key and a typed, bounded value. Lookup,
 * "did you mean", validation and text parsing live here once, so the two
 * speak the same language ("batch_size takes an integer value, got 2.5")
 * and a fix to one is a fix to both. Storage stays with the owner: the
 * engine returns a checked value, the owner decides where it goes.
 */
#ifndef ESMM__OPTTAB_H
#define ESMM__OPTTAB_H

#include <stddef.h>
#include <stdint.h>

enum { ESMM__OT_INT, ESMM__OT_FLOAT, ESMM__OT_ENUM, ESMM__OT_LIST };

/* An integer row whose max is this has no upper bound below int64's:
 * messages print it as "2^63)". */
#define ESMM__OT_I64_END 9223372036854775808.0

typedef struct esmm__optrow {
  int opt;           /* the public id (esmm_opt, ESMM_SIM_*) */
  const char *name;  /* by-name key (NULL: id reserved, no row) */
  const char *ident; /* the enumerator's name, for the id-keyed setters' messages */
  int type;          /* ESMM__OT_* */
  double min, max;
  int min_open, max_open; /* bound excluded */
  double def;
  const char *const *enum_names; /* ESMM__OT_ENUM: names by value, NULL-terminated */
} esmm__optrow;

typedef struct esmm__opttab {
  const esmm__optrow *row;
  size_t n;
  const char *kind;               /* "option", "simulator option": messages */
  const char *const *extra_names; /* keys served outside the table ("fields"), NULL-terminated; may be NULL */
} esmm__opttab;

/* A value as given (is_int: i holds it, else f) and as stored (int and
 * enum rows: i, with f = i; float rows: f). */
typedef struct esmm__optvalue {
  int is_int;
  int64_t i;
  double f;
} esmm__optvalue;

/* Row index of an id, or -1. */
int esmm__opt_find(const esmm__opttab *t, int opt);
/* Row index of a by-name key (also of the enumerator's name when
 * also_ident), or -1. */
int esmm__opt_find_name(const esmm__opttab *t, const char *name, int also_ident);
/* The key closest to a mistyped one when close enough to be a typo, or NULL. */
const char *esmm__opt_nearest(const esmm__opttab *t, const char *name);
/* ESMM_EINVAL with "unknown <kind> name "x" (did you mean y?)". */
int esmm__opt_unknown_name(const esmm__opttab *t, const char *name, const char *func);
/* ESMM_EINVAL with "unknown <kind> N". */
int esmm__opt_unknown(const esmm__opttab *t, int opt, const char *func);

/* Validate v against row r (integral for int and enum rows, within the
 * bounds, not NaN) and return the stored form in *out. by_name selects
 * the label messages use: the key, or the enumerator. */
int esmm__opt_check(const esmm__opttab *t, int r, int by_name, esmm__optvalue v, esmm__optvalue *out,
                    const char *func);
/* Parse text for a scalar row (an integer also as "1e6", an enum by name
 * or number, a float in the C locale), then check it as above. */
int esmm__opt_parse(const esmm__opttab *t, int r, const char *text, esmm__optvalue *out, const char *func);

#endif
