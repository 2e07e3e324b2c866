/* esmm dump --model FILE [--json]: what a model file or checkpoint holds.
 * Everything comes from the library's reader (esmm_model_info_open, which
 * validates the whole file first): format version, section table,
 * configuration, metadata, tensors, and the training position of a
 * checkpoint. The CLI never parses the format itself.
 * Exit status: 0, 1 (unreadable, corrupt or newer-format file), 2 usage. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int64_t info_stat(const esmm_model_info *info, int key) {
  int64_t v = 0;
  esmm_model_info_stat(info, key, &v);
  return v;
}

/* The config text's "name=value" lines, as a JSON object or indented lines. */
static void print_config(const char *text, size_t len, int json) {
  const char *p = text, *end = text + len;
  int first = 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
    char name[128], value[73 * 1024];
    size_t ln;
    if (!nl)
      nl = end;
    ln = (size_t)(nl - p);
    eq = memchr(p, '=', ln);
    if (!json)
      printf("  %.*s\n", (int)ln, p);
    else if (eq && (size_t)(eq - p) < sizeof name && (size_t)(nl - eq - 1) < sizeof value) {
      memcpy(name, p, (size_t)(eq - p));
      name[eq - p] = '\0';
      memcpy(value, eq + 1, (size_t)(nl - eq - 1));
      value[nl - eq - 1] = '\0';
      printf("%s", first ? "" : ",");
      cli_json_str(stdout, name);
      printf(":");
      cli_json_str(stdout, value);
      first = 0;
    }
    p = nl + 1;
  }
}

int cmd_dump(const opts *o) {
  esmm_model_info *info = NULL;
  const esmm_config *cfg;
  const char *text;
  size_t len, n_meta = 0;
  int rc, ckpt;
  int64_t n_sec, n_t;

  if (!o->model)
    return cli_usage("dump needs --model FILE");
  if ((rc = esmm_model_info_open(&info, o->model)) != 0)
    return cli_fail(o->model, rc);
  esmm_model_info_config(info, &cfg, &text, &len);
  esmm_config_meta_at(cfg, 0, NULL, NULL, &n_meta);
  ckpt = (int)info_stat(info, ESMM_INFO_CHECKPOINT);
  n_sec = info_stat(info, ESMM_INFO_SECTIONS);
  n_t = info_stat(info, ESMM_INFO_TENSORS);

  if (o->json) {
    printf("{\"file\":");
    cli_json_str(stdout, o->model);
    printf(",\"bytes\":%lld,\"format_version\":%lld,\"checkpoint\":%s,\"parameters\":%lld,\"sections\":[",
           (long long)info_stat(info, ESMM_INFO_BYTES), (long long)info_stat(info, ESMM_INFO_FORMAT_VERSION),
           ckpt ? "true" : "false", (long long)info_stat(info, ESMM_INFO_PARAMETERS));
    for (int64_t i = 0; i < n_sec; i++) {
      uint32_t kind, crc;
      uint64_t off, size;
      const char *name;
      esmm_model_info_section(info, (size_t)i, &kind, &off, &size, &crc);
      name = esmm_model_info_section_name(kind);
      printf("%s{\"kind\":%u,\"name\":\"%s\",\"offset\":%llu,\"size\":%llu,\"crc32\":\"%08x\"}", i ? "," : "",
             (unsigned)kind, name ? name : "unknown", (unsigned long long)off, (unsigned long long)size,
             (unsigned)crc);
    }
    printf("],\"config\":{");
    print_config(text, len, 1);
    printf("},\"metadata\":{");
    for (size_t i = 0; i < n_meta; i++) {
      const char *k, *v;
      esmm_config_meta_at(cfg, i, &k, &v, NULL);
      printf("%s", i ? "," : "");
      cli_json_str(stdout, k);
      printf(":");
      cli_json_str(stdout, v);
    }
    printf("},\"tensors\":[");
    for (int64_t t = 0; t < n_t; t++) {
      const char *name;
      uint64_t rows, cols;
      esmm_model_info_tensor(info, (size_t)t, &name, &rows, &cols);
      printf("%s{\"name\":", t ? "," : "");
      cli_json_str(stdout, name);
      printf(",\"rows\":%llu,\"cols\":%llu}", (unsigned long long)rows, (unsigned long long)cols);
    }
    printf("]");
    if (ckpt)
      printf(",\"training\":{\"step\":%lld,\"epoch\":%lld,\"samples\":%lld,\"epoch_position\":%lld,"
             "\"epoch_rows\":%lld}",
             (long long)info_stat(info, ESMM_INFO_STEP), (long long)info_stat(info, ESMM_INFO_EPOCH),
             (long long)info_stat(info, ESMM_INFO_SAMPLES), (long long)info_stat(info, ESMM_INFO_EPOCH_POSITION),
             (long long)info_stat(info, ESMM_INFO_EPOCH_ROWS));
    printf("}\n");
  } else {
    printf("%s: libesmm %s, format version %lld, %lld bytes, %lld parameters\n", o->model,
           ckpt ? "checkpoint" : "model", (long long)info_stat(info, ESMM_INFO_FORMAT_VERSION),
           (long long)info_stat(info, ESMM_INFO_BYTES), (long long)info_stat(info, ESMM_INFO_PARAMETERS));
    printf("sections:\n");
    for (int64_t i = 0; i < n_sec; i++) {
      uint32_t kind, crc;
      uint64_t off, size;
      const char *name;
      esmm_model_info_section(info, (size_t)i, &kind, &off, &size, &crc);
      name = esmm_model_info_section_name(kind);
      printf("  %u %-16s offset %10llu  size %10llu  crc32 %08x\n", (unsigned)kind, name ? name : "unknown",
             (unsigned long long)off, (unsigned long long)size, (unsigned)crc);
    }
    printf("config:\n");
    print_config(text, len, 0);
    if (n_meta) {
      printf("metadata:\n");
      for (size_t i = 0; i < n_meta; i++) {
        const char *k, *v;
        esmm_config_meta_at(cfg, i, &k, &v, NULL);
        printf("  %s=%s\n", k, v);
      }
    }
    printf("tensors:\n");
    for (int64_t t = 0; t < n_t; t++) {
      const char *name;
      uint64_t rows, cols;
      esmm_model_info_tensor(info, (size_t)t, &name, &rows, &cols);
      printf("  %-16s %8llu x %llu\n", name, (unsigned long long)rows, (unsigned long long)cols);
    }
    if (ckpt)
      printf("training: step %lld, epoch %lld, %lld samples, position %lld of %lld rows in the epoch\n",
             (long long)info_stat(info, ESMM_INFO_STEP), (long long)info_stat(info, ESMM_INFO_EPOCH),
             (long long)info_stat(info, ESMM_INFO_SAMPLES), (long long)info_stat(info, ESMM_INFO_EPOCH_POSITION),
             (long long)info_stat(info, ESMM_INFO_EPOCH_ROWS));
  }
  esmm_model_info_free(info);
  return 0;
}
