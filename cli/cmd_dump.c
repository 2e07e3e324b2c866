/* esmm dump --model FILE [--json]: a readable summary of a model file or
 * checkpoint. The library validates the file first (esmm_model_load_checkpoint,
 * else esmm_model_load), so everything printed comes from a file known to be
 * intact; the layout is then read as docs/model-format.md specifies it
 * (header, section table, config text, tensor index, training section), plus
 * the statistics the loaded model reports.
 * Exit status: 0, 1 (unreadable, corrupt or newer-format file), 2 usage. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static const char *section_name(uint32_t kind) {
  static const char *names[] = {"?", "config", "tensor index", "tensor data", "optimizer state", "training state"};
  return kind <= 5 ? names[kind] : "?";
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0;
  if (!f)
    return NULL;
  for (;;) {
    if (n == cap) {
      unsigned char *nb = realloc(buf, cap ? 2 * cap : 65536);
      if (!nb) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = nb;
      cap = cap ? 2 * cap : 65536;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0)
      break;
  }
  if (ferror(f)) {
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

static void json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

int cmd_dump(const opts *o) {
  unsigned char *b;
  size_t len = 0, n_sec;
  esmm_model *m = NULL;
  int rc, ckpt = 1;
  const unsigned char *cfg = NULL, *idx = NULL, *trn = NULL;
  uint64_t cfg_len = 0;
  double params, step, epoch, samples;

  if (!o->model)
    return cli_usage("dump needs --model FILE");
  if (!(b = read_file(o->model, &len))) {
    fprintf(stderr, "esmm: cannot read %s: %s\n", o->model, strerror(errno));
    return EXIT_LIB;
  }
  rc = esmm_model_load_checkpoint_buffer(&m, b, len, NULL);
  if (rc != ESMM_OK) {
    ckpt = 0;
    rc = esmm_model_load_buffer(&m, b, len, NULL);
  }
  if (rc != ESMM_OK) {
    free(b);
    return cli_fail(o->model, rc);
  }
  /* valid file: the header, the table and the sections are in bounds */
  n_sec = le32(b + 12);
  for (size_t i = 0; i < n_sec; i++) {
    const unsigned char *e = b + 24 + 32 * i;
    uint32_t kind = le32(e);
    if (kind == 1) {
      cfg = b + le64(e + 8);
      cfg_len = le64(e + 16);
    } else if (kind == 2)
      idx = b + le64(e + 8);
    else if (kind == 5)
      trn = b + le64(e + 8);
  }
  esmm_model_stat(m, ESMM_STAT_PARAMS, &params);
  esmm_model_stat(m, ESMM_STAT_STEP, &step);
  esmm_model_stat(m, ESMM_STAT_EPOCH, &epoch);
  esmm_model_stat(m, ESMM_STAT_SAMPLES, &samples);

  if (o->json) {
    printf("{\"file\":");
    json_str(o->model, strlen(o->model));
    printf(",\"bytes\":%zu,\"format_version\":%u,\"checkpoint\":%s,\"parameters\":%.0f,\"sections\":[", len,
           (unsigned)le32(b + 4), ckpt ? "true" : "false", params);
    for (size_t i = 0; i < n_sec; i++) {
      const unsigned char *e = b + 24 + 32 * i;
      printf("%s{\"kind\":%u,\"name\":\"%s\",\"offset\":%llu,\"size\":%llu,\"crc32\":\"%08x\"}", i ? "," : "",
             (unsigned)le32(e), section_name(le32(e)), (unsigned long long)le64(e + 8),
             (unsigned long long)le64(e + 16), (unsigned)le32(e + 24));
    }
    printf("],\"config\":{");
    for (const unsigned char *p = cfg, *end = cfg + cfg_len; p < end;) {
      const unsigned char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
      if (!nl)
        nl = end;
      eq = memchr(p, '=', (size_t)(nl - p));
      if (eq) {
        if (p != cfg)
          putchar(',');
        json_str((const char *)p, (size_t)(eq - p));
        putchar(':');
        json_str((const char *)eq + 1, (size_t)(nl - eq - 1));
      }
      p = nl + 1;
    }
    printf("},\"tensors\":[");
    {
      const unsigned char *q = idx + 4;
      for (uint32_t t = 0, nt = le32(idx); t < nt; t++) {
        uint32_t nl = le32(q);
        printf("%s{\"name\":", t ? "," : "");
        json_str((const char *)q + 4, nl);
        q += 4 + nl + 8;
        printf(",\"rows\":%llu,\"cols\":%llu}", (unsigned long long)le64(q), (unsigned long long)le64(q + 8));
        q += 24;
      }
    }
    printf("]");
    if (ckpt)
      printf(",\"training\":{\"step\":%.0f,\"epoch\":%.0f,\"samples\":%.0f,\"epoch_position\":%llu,\"epoch_rows\":%llu}",
             step, epoch, samples, (unsigned long long)le64(trn + 72), (unsigned long long)le64(trn + 80));
    printf("}\n");
  } else {
    printf("%s: libesmm %s, format version %u, %zu bytes, %.0f parameters\n", o->model,
           ckpt ? "checkpoint" : "model", (unsigned)le32(b + 4), len, params);
    printf("sections:\n");
    for (size_t i = 0; i < n_sec; i++) {
      const unsigned char *e = b + 24 + 32 * i;
      printf("  %u %-16s offset %10llu  size %10llu  crc32 %08x\n", (unsigned)le32(e), section_name(le32(e)),
             (unsigned long long)le64(e + 8), (unsigned long long)le64(e + 16), (unsigned)le32(e + 24));
    }
    printf("config:\n");
    for (const unsigned char *p = cfg, *end = cfg + cfg_len; p < end;) {
      const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
      if (!nl)
        nl = end;
      printf("  %.*s\n", (int)(nl - p), (const char *)p);
      p = nl + 1;
    }
    printf("tensors:\n");
    {
      const unsigned char *q = idx + 4;
      for (uint32_t t = 0, nt = le32(idx); t < nt; t++) {
        uint32_t nl = le32(q);
        printf("  %-12.*s %8llu x %llu\n", (int)nl, (const char *)q + 4, (unsigned long long)le64(q + 4 + nl + 8),
               (unsigned long long)le64(q + 4 + nl + 16));
        q += 4 + nl + 32;
      }
    }
    if (ckpt)
      printf("training: step %.0f, epoch %.0f, %.0f samples, position %llu of %llu rows in the epoch\n", step, epoch,
             samples, (unsigned long long)le64(trn + 72), (unsigned long long)le64(trn + 80));
  }
  esmm_model_free(m);
  free(b);
  return 0;
}
