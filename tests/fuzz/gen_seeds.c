/* gen_seeds.c - writes the model seed corpus (tests/fuzz/corpus/model/):
 * small, valid model files of several shapes, so the fuzzer starts from
 * every structure the loader accepts. Run deliberately (make fuzz-seeds)
 * when the model format changes; the output is committed. Text seeds are
 * hand-written files and are not generated. */
#include <esmm/esmm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int save(const char *dir, const char *name, esmm_config *cfg, int train) {
  esmm_model *m = NULL;
  char path[4096];
  unsigned char *buf;
  size_t need = 0;
  FILE *f;
  if (esmm_model_new(&m, cfg) != ESMM_OK) {
    fprintf(stderr, "gen_seeds: %s: %s\n", name, esmm_last_error());
    return 1;
  }
  if (train) {
    esmm_sim *sim = NULL;
    esmm_dataset *ds = NULL;
    if (esmm_sim_new(&sim, cfg) != ESMM_OK || esmm_sim_generate(sim, 64, 0, &ds) != ESMM_OK ||
        esmm_model_train_steps(m, ds, 2, NULL, NULL) != ESMM_OK) {
      fprintf(stderr, "gen_seeds: %s: %s\n", name, esmm_last_error());
      return 1;
    }
    esmm_dataset_free(ds);
    esmm_sim_free(sim);
  }
  esmm_model_save_buffer(m, NULL, 0, &need);
  buf = malloc(need);
  if (!buf || esmm_model_save_buffer(m, buf, need, &need) != ESMM_OK)
    return 1;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, need, f) != need || fclose(f) != 0) {
    fprintf(stderr, "gen_seeds: cannot write %s\n", path);
    return 1;
  }
  printf("%s: %zu bytes\n", path, need);
  free(buf);
  esmm_model_free(m);
  return 0;
}

/* Binary dataset caches (the default config's fields, as fuzz_cache uses),
 * format 2 ("-v2"; the format 1 seeds "sim-N-rows" were written by 1.0 and
 * stay in the corpus): simulated rows, and rows read from a CSV with ids,
 * a skipped row and a message, so that every column of format 2 is filled. */
static int caches(const char *dir) {
  static const char csv[] = "sid,y,z,101,205\nr1,1,0,5,7\nr2,0,1,x,y,z\n\"r,3\",0,0,6,\n";
  esmm_sim *sim = NULL;
  esmm_dataset *ds = NULL;
  esmm_config *cfg = NULL;
  char path[4096];
  size_t rows[] = {1, 3, 40};
  for (int i = 0; i < 3; i++) {
    if (esmm_sim_new(&sim, NULL) != ESMM_OK || esmm_sim_generate(sim, rows[i], (uint64_t)i, &ds) != ESMM_OK)
      return 1;
    snprintf(path, sizeof path, "%s/sim-%zu-rows-v2", dir, rows[i]);
    if (esmm_dataset_save_cache(ds, path) != ESMM_OK) {
      fprintf(stderr, "gen_seeds: %s: %s\n", path, esmm_last_error());
      return 1;
    }
    printf("%s\n", path);
    esmm_dataset_free(ds);
    esmm_sim_free(sim);
  }
  snprintf(path, sizeof path, "%s/csv-report-v2", dir);
  if (esmm_config_new(&cfg) != ESMM_OK || esmm_config_set_by_name(cfg, "on_error", "skip") != ESMM_OK ||
      esmm_dataset_read_csv_buffer(&ds, cfg, csv, sizeof csv - 1, "seed.csv", "id=sid;click=y;conversion=z;cat=*") !=
          ESMM_OK ||
      esmm_dataset_save_cache(ds, path) != ESMM_OK) {
    fprintf(stderr, "gen_seeds: %s: %s\n", path, esmm_last_error());
    return 1;
  }
  printf("%s\n", path);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  return 0;
}

/* Ali-CCP pairs written by the library, joined as fuzz_aliccp reads them:
 * skeleton, "--common--" line, common-features file. */
static int aliccp(const char *dir) {
  esmm_sim *sim = NULL;
  esmm_dataset *ds = NULL;
  char sk[4096], co[4096], out[4096];
  size_t rows[] = {2, 12};
  for (int i = 0; i < 2; i++) {
    FILE *o, *f;
    int ch;
    snprintf(sk, sizeof sk, "%s/.skeleton.tmp", dir);
    snprintf(co, sizeof co, "%s/.common.tmp", dir);
    snprintf(out, sizeof out, "%s/sim-%zu-rows", dir, rows[i]);
    if (esmm_sim_new(&sim, NULL) != ESMM_OK || esmm_sim_generate(sim, rows[i], (uint64_t)i, &ds) != ESMM_OK ||
        esmm_dataset_write_aliccp(ds, sk, co) != ESMM_OK) {
      fprintf(stderr, "gen_seeds: aliccp: %s\n", esmm_last_error());
      return 1;
    }
    o = fopen(out, "wb");
    if (!o)
      return 1;
    f = fopen(sk, "rb");
    while (f && (ch = fgetc(f)) != EOF)
      fputc(ch, o);
    if (f)
      fclose(f);
    fputs("--common--\n", o);
    f = fopen(co, "rb");
    while (f && (ch = fgetc(f)) != EOF)
      fputc(ch, o);
    if (f)
      fclose(f);
    fclose(o);
    remove(sk);
    remove(co);
    printf("%s\n", out);
    esmm_dataset_free(ds);
    esmm_sim_free(sim);
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/model";
  if (argc > 2 && strcmp(argv[2], "cache") == 0)
    return caches(dir);
  if (argc > 2 && strcmp(argv[2], "aliccp") == 0)
    return aliccp(dir);
  static const char *const names3[] = {"a", "b", "c"};
  static const int64_t buckets3[] = {4, 0, 2};
  static const char *const names1[] = {"x"};
  const int64_t t1[] = {3}, t2[] = {4, 2};
  esmm_config *c;
  int bad = 0;

  /* 3 fields, tiny towers, one trained step: non-zero everywhere */
  esmm_config_new(&c);
  esmm_config_set_fields(c, 3, names3, buckets3);
  esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 3);
  esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 2);
  esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, t1, 1);
  esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, t2, 2);
  esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 8);
  bad |= save(dir, "small-3fields", c, 0);
  /* same shape, other optimizer and activation */
  esmm_config_set_by_name(c, "optimizer", "sgd");
  esmm_config_set_by_name(c, "activation", "tanh");
  bad |= save(dir, "small-sgd-tanh", c, 0);
  esmm_config_free(c);

  /* one field, no hidden layer */
  esmm_config_new(&c);
  esmm_config_set_fields(c, 1, names1, NULL);
  esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 2);
  esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 1);
  esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, t1, 0);
  esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, t1, 0);
  esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 1);
  bad |= save(dir, "one-field-linear", c, 0);
  esmm_config_free(c);

  /* default fields (the simulator's), small tables, trained two steps */
  esmm_config_new(&c);
  esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 2);
  esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 1);
  esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, t1, 1);
  esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, t1, 1);
  esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 16);
  bad |= save(dir, "default-fields-trained", c, 1);
  esmm_config_free(c);
  return bad;
}
