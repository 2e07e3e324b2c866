/* check_config.c - options, bounds, by-name parsing, fields, text round trip. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "support/support.h"

START_TEST(defaults_are_documented) {
  esmm_config *c;
  int64_t v, t[8];
  double f;
  size_t n;
  const char *name;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_get_int(c, ESMM_OPT_EMBED_DIM, &v), ESMM_OK);
  ck_assert_int_eq(v, 18);
  ck_assert_int_eq(esmm_config_get_ints(c, ESMM_OPT_CTR_TOWER, t, 8, &n), ESMM_OK);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(t[0], 200);
  ck_assert_int_eq(t[1], 80);
  ck_assert_int_eq(esmm_config_get_ints(c, ESMM_OPT_CVR_TOWER, t, 8, &n), ESMM_OK);
  ck_assert(n == 2 && t[0] == 200 && t[1] == 80);
  esmm_config_get_float(c, ESMM_OPT_LEARNING_RATE, &f);
  ck_assert(f == 1e-3);
  esmm_config_get_float(c, ESMM_OPT_ADAM_BETA1, &f);
  ck_assert(f == 0.9);
  esmm_config_get_float(c, ESMM_OPT_ADAM_BETA2, &f);
  ck_assert(f == 0.999);
  esmm_config_get_float(c, ESMM_OPT_ADAM_EPS, &f);
  ck_assert(f == 1e-8);
  esmm_config_get_int(c, ESMM_OPT_OPTIMIZER, &v);
  ck_assert_int_eq(v, ESMM_OPTIMIZER_ADAM);
  esmm_config_get_int(c, ESMM_OPT_ACTIVATION, &v);
  ck_assert_int_eq(v, ESMM_ACT_RELU);
  esmm_config_get_int(c, ESMM_OPT_NUM_THREADS, &v);
  ck_assert_int_eq(v, 0); /* the usable CPUs (1.1; 1 before) */
  esmm_config_get_int(c, ESMM_OPT_BATCH_SLICES, &v);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(esmm_config_field_count(c, &n), ESMM_OK);
  ck_assert_uint_eq(n, 23);
  ck_assert_int_eq(esmm_config_field(c, 9, &name, &v), ESMM_OK);
  ck_assert_str_eq(name, "109_14");
  ck_assert_int_eq(v, 0);
  esmm_config_free(c);
}
END_TEST

START_TEST(out_of_range_is_refused_not_clamped) {
  esmm_config *c;
  int64_t v;
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 0), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_int: ESMM_OPT_EMBED_DIM must be in [1, 4096], got 0");
  esmm_config_get_int(c, ESMM_OPT_EMBED_DIM, &v);
  ck_assert_int_eq(v, 18);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, 0.0), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(),
                   "esmm_config_set_float: ESMM_OPT_LEARNING_RATE must be in (0, 10], got 0");
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_ADAM_BETA1, 1.0), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_ADAM_BETA1, NAN), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_EMBED_DIM, 2.5), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_EMBED_DIM, 8.0), ESMM_OK);
  esmm_config_get_int(c, ESMM_OPT_EMBED_DIM, &v);
  ck_assert_int_eq(v, 8);
  ck_assert_int_eq(esmm_config_set_int(c, (esmm_opt)9999, 1), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_CTR_TOWER, 1), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 1048577), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_SEED, -1), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_int(NULL, ESMM_OPT_SEED, 1), ESMM_EINVAL);
  esmm_config_free(c);
}
END_TEST

START_TEST(lists_and_bounds) {
  esmm_config *c;
  int64_t t[3] = {360, 200, 80}, got[2];
  size_t n;
  double lo, hi;
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, t, 3), ESMM_OK);
  ck_assert_int_eq(esmm_config_get_ints(c, ESMM_OPT_CTR_TOWER, got, 2, &n), ESMM_EBUFS);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, NULL, 0), ESMM_OK);
  ck_assert_int_eq(esmm_config_get_ints(c, ESMM_OPT_CVR_TOWER, NULL, 0, &n), ESMM_OK);
  ck_assert_uint_eq(n, 0);
  t[1] = 0;
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, t, 3), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_EMBED_DIM, t, 1), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_bounds(ESMM_OPT_EMBED_DIM, &lo, &hi), ESMM_OK);
  ck_assert(lo == 1 && hi == 4096);
  ck_assert_int_eq(esmm_config_bounds((esmm_opt)7, &lo, &hi), ESMM_EINVAL);
  esmm_config_free(c);
}
END_TEST

START_TEST(by_name) {
  esmm_config *c;
  int64_t v, t[8];
  double f;
  size_t n;
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_by_name(c, "embed_dim", "12"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "learning_rate", "2.5e-3"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "adagrad"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "activation", "2"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "ctr_tower", "360,200,80"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "cvr_tower", ""), ESMM_OK);
  esmm_config_get_int(c, ESMM_OPT_EMBED_DIM, &v);
  ck_assert_int_eq(v, 12);
  esmm_config_get_float(c, ESMM_OPT_LEARNING_RATE, &f);
  ck_assert(f == 2.5e-3);
  esmm_config_get_int(c, ESMM_OPT_OPTIMIZER, &v);
  ck_assert_int_eq(v, ESMM_OPTIMIZER_ADAGRAD);
  esmm_config_get_int(c, ESMM_OPT_ACTIVATION, &v);
  ck_assert_int_eq(v, ESMM_ACT_SIGMOID);
  esmm_config_get_ints(c, ESMM_OPT_CTR_TOWER, t, 8, &n);
  ck_assert(n == 3 && t[0] == 360 && t[2] == 80);
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "rmsprop"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "no_such", "1"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: unknown option name \"no_such\"");
  /* one option engine (opttab.c) with the simulator: same messages */
  ck_assert_int_eq(esmm_config_set_by_name(c, "embed_dim", "2.5"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: embed_dim takes an integer value, got 2.5");
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_EMBED_DIM, 2.5), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_float: ESMM_OPT_EMBED_DIM takes an integer value, got 2.5");
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_SEED, -1), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_int: ESMM_OPT_SEED must be in [0, 2^63), got -1");
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "rmsprop"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: optimizer: \"rmsprop\" is not one of adam, adagrad, sgd");
  ck_assert_int_eq(esmm_config_set_by_name(c, "batch_size", "2e3"), ESMM_OK); /* an integral float is a count */
  esmm_config_get_int(c, ESMM_OPT_BATCH_SIZE, &v);
  ck_assert_int_eq(v, 2000);
  ck_assert_int_eq(esmm_config_set_by_name(c, "learning_rate", "1,5e-3"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "embed_dim", "12x"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "ctr_tower", "1,2,3,4,5,6,7,8,9"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "fields", "a:10,b,c:7"), ESMM_OK);
  esmm_config_field_count(c, &n);
  ck_assert_uint_eq(n, 3);
  {
    const char *name;
    int idx;
    esmm_config_field(c, 2, &name, &v);
    ck_assert_str_eq(name, "c");
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(esmm_config_field_index(c, "b", &idx), ESMM_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(esmm_config_field_index(c, "zz", &idx), ESMM_EINVAL);
    ck_assert_int_eq(idx, -1);
  }
  ck_assert_int_eq(esmm_config_set_by_name(c, "fields", "a,a"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "fields", "a-b"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_by_name(c, "fields", ""), ESMM_EINVAL);
  esmm_config_free(c);
}
END_TEST

START_TEST(by_name_ignores_process_locale) {
  esmm_config *c;
  double f;
  if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
    return; /* no comma-decimal locale installed: nothing to prove */
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_by_name(c, "learning_rate", "0.125"), ESMM_OK);
  esmm_config_get_float(c, ESMM_OPT_LEARNING_RATE, &f);
  ck_assert(f == 0.125);
  setlocale(LC_NUMERIC, "C");
  esmm_config_free(c);
}
END_TEST

START_TEST(fields_api) {
  esmm_config *c;
  const char *names[] = {"user", "item", "ctx"};
  int64_t buckets[] = {100, 0, 5};
  const char *bad[] = {"user", ""};
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_fields(c, 3, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm__config_buckets(c, 0), 100);
  ck_assert_int_eq(esmm__config_buckets(c, 1), 32768);
  ck_assert_int_eq(esmm_config_set_fields(c, 2, bad, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_fields(c, 0, names, NULL), ESMM_EINVAL);
  buckets[0] = -1;
  ck_assert_int_eq(esmm_config_set_fields(c, 3, names, buckets), ESMM_EINVAL);
  {
    size_t n;
    esmm_config_field_count(c, &n);
    ck_assert_uint_eq(n, 3); /* unchanged by the failures */
  }
  ck_assert_int_eq(esmm_config_field(c, 3, NULL, NULL), ESMM_EINVAL);
  esmm_config_free(c);
}
END_TEST

START_TEST(text_round_trip_and_clone) {
  esmm_config *a, *b, *c;
  char t1[4096], t2[4096];
  size_t n1, n2;
  esmm_config_new(&a);
  esmm_config_set_by_name(a, "learning_rate", "0.1");
  esmm_config_set_by_name(a, "ctr_tower", "7,5");
  esmm_config_set_by_name(a, "fields", "x:3,y");
  esmm_config_set_float(a, ESMM_OPT_L2, 1.0 / 3.0);
  ck_assert_int_eq(esmm__config_to_text(a, NULL, 0, &n1), ESMM_EBUFS);
  ck_assert_int_eq(esmm__config_to_text(a, t1, sizeof t1, &n1), ESMM_OK);
  esmm_config_new(&b);
  ck_assert_int_eq(esmm__config_from_text(b, t1, n1), ESMM_OK);
  ck_assert_int_eq(esmm__config_to_text(b, t2, sizeof t2, &n2), ESMM_OK);
  ck_assert_uint_eq(n1, n2);
  ck_assert(memcmp(t1, t2, n1) == 0);
  {
    double f;
    esmm_config_get_float(b, ESMM_OPT_L2, &f);
    ck_assert(f == 1.0 / 3.0); /* 17 digits round-trip exactly */
  }
  ck_assert_int_eq(esmm_config_clone(a, &c), ESMM_OK);
  esmm_config_free(a);
  ck_assert_int_eq(esmm__config_to_text(c, t2, sizeof t2, &n2), ESMM_OK);
  ck_assert(n1 == n2 && memcmp(t1, t2, n1) == 0);
  ck_assert_int_eq(esmm__config_from_text(b, "bogus=1\n", 8), ESMM_EINVAL);
  ck_assert_int_eq(esmm__config_from_text(b, "noequals\n", 9), ESMM_EINVAL);
  esmm_config_free(b);
  esmm_config_free(c);
}
END_TEST

START_TEST(hooks_and_names) {
  esmm_config *c;
  test_counter calls = TEST_COUNTER_INIT;
  esmm_config_new(&c);
  ck_assert_int_eq(esmm_config_set_allocator(c, test_counting_alloc, NULL, &calls), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_allocator(c, test_counting_alloc, test_counting_free, &calls), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_allocator(c, NULL, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_log(c, NULL, 7, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_log(c, NULL, ESMM_LOG_INFO, NULL), ESMM_OK);
  ck_assert_str_eq(esmm_config_option_name(ESMM_OPT_LEARNING_RATE), "learning_rate");
  ck_assert_ptr_null(esmm_config_option_name((esmm_opt)12345));
  ck_assert_int_eq(esmm_config_new(NULL), ESMM_EINVAL);
  esmm_config_free(c);
  ck_assert_int_eq(esmm_config_clone(NULL, &c), ESMM_EINVAL);
  ck_assert_ptr_null(c);
  esmm_config_free(NULL);
}
END_TEST

START_TEST(errors_and_version) {
  ck_assert_str_eq(esmm_strerror(ESMM_OK), "success");
  ck_assert_str_eq(esmm_strerror(ESMM_ECORRUPT), "corrupt file");
  ck_assert_str_eq(esmm_strerror(-999), "unknown error");
  ck_assert_uint_eq(esmm_version_number(), ESMM_VERSION_NUMBER);
  ck_assert_str_eq(esmm_version_string(), ESMM_VERSION_STRING);
  ck_assert(ESMM_VERSION_CHECK(1, 0, 0));
  ck_assert(esmm_last_error() != NULL);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, defaults_are_documented);
  tcase_add_test(tc, out_of_range_is_refused_not_clamped);
  tcase_add_test(tc, lists_and_bounds);
  tcase_add_test(tc, by_name);
  tcase_add_test(tc, by_name_ignores_process_locale);
  tcase_add_test(tc, fields_api);
  tcase_add_test(tc, text_round_trip_and_clone);
  tcase_add_test(tc, hooks_and_names);
  tcase_add_test(tc, errors_and_version);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
