/*
 * score.h (internal) - serving entry points that take features straight
 * from host memory (CSR rows; one user and many candidate items) instead of
 * an esmm_dataset. Owns the argument validation of those calls and the
 * "user part once" layout of a workspace; reads the model's embedding and
 * towers through model.h and never writes them. Knows nothing of training,
 * files or datasets.
 */
#ifndef ESMM__SCORE_H
#define ESMM__SCORE_H

#include "internal.h"

/* Check one feature list against a model with n_fields fields: every field
 * index in [0, n_fields), every value finite (value NULL = all 1). what
 * names the list in the message ("row 3", "user features"). Returns ESMM_OK,
 * ESMM_EINVAL (bad field) or ESMM_ENUMERIC (NaN/Inf value). */
int esmm__score_check_features(size_t n_fields, size_t nnz, const int *field, const float *value,
                               const char *what, const char *func);

#endif /* ESMM__SCORE_H */
