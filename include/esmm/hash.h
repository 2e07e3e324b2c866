/*
 * esmm/hash.h - the ids the readers derive from text, for hosts that feed
 * rows themselves (esmm_dataset_add_rows, esmm_model_predict_csr) and must
 * reproduce the ids a model was trained on from files.
 *
 * The CSV reader (categorical cells) and the token-line reader (the id of
 * "field:id") turn a cell into a 64-bit feature id with
 * esmm_hash_category: an unsigned decimal below 2^64 ("0", "42",
 * "007" = 7, "18446744073709551615") is that number; any other non-empty
 * text ("abc", "-1", "1.0", "1e3", " 7", a number beyond 2^64) is
 * esmm_hash_string of its bytes. CSV cells are taken after unquoting
 * ("a""b" in the file is the 3 bytes a"b). The Ali-CCP and text readers
 * accept decimal ids only. Both functions are pinned: they never change
 * between releases (tests/check_csv.c holds test vectors).
 *
 * Thread safety: pure functions, safe from any thread.
 */
#ifndef ESMM_HASH_H
#define ESMM_HASH_H

#include "common.h"

ESMM_BEGIN_DECLS

/**
 * FNV-1a 64 of the n bytes at s: h = 1469598103934665603, then for each
 * byte h = (h XOR byte) * 1099511628211 mod 2^64. Mind the offset basis:
 * it is not the standard FNV one (14695981039346656037, one digit more);
 * the readers have used this value since 1.0 and ids are pinned, so it
 * stays. Vectors: "" -> 0x14650fb0739d0383, "a" -> 0x44bd8ad473cd9906,
 * "foobar" -> 0x88fad7c0a8ff07f2.
 * @param s     the bytes (need not be NUL-terminated; may be NULL when n is 0).
 * @param n     their number.
 * @param[out] out  the hash.
 * @return ESMM_OK; ESMM_EINVAL (out NULL, or s NULL with n > 0).
 * @since 1.1
 */
ESMM_API int esmm_hash_string(const char *s, size_t n, uint64_t *out);

/**
 * The feature id the CSV and token readers give the cell s[0..n): the
 * number for an unsigned decimal below 2^64, else esmm_hash_string.
 * @param[out] out  the id.
 * @return ESMM_OK; ESMM_EINVAL (out or s NULL, or n == 0: an empty cell is
 * no feature, the readers store none).
 * @since 1.1
 */
ESMM_API int esmm_hash_category(const char *s, size_t n, uint64_t *out);

ESMM_END_DECLS

#endif /* ESMM_HASH_H */
