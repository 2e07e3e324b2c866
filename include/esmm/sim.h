/*
 * esmm/sim.h - a simulator of Ali-CCP-shaped impressions with a known
 * ground truth.
 *
 * Users, items and contexts draw Zipf-distributed ids for the 23 Ali-CCP
 * fields (user fields 101..129 and the multi-valued behaviour histories
 * 109_14 110_14 127_14 150_14 with log-count values; item fields 205 206
 * 207 210 216; cross fields 508 509 702 853 with values; context 301).
 * Impressions come grouped by user (ESMM_SIM_ROWS_PER_USER on average), the
 * user fields stored once per user as a common feature list, as in the raw
 * Ali-CCP files. Click and conversion are drawn from hidden logistic models
 * over the features (per-id weights plus a user x item interaction), with
 * intercepts solved so that the mean p(y=1|x) and E[p(y=1,z=1|x)] /
 * E[p(y=1|x)] (the conversion rate of clicks) match the levels asked for. Every dataset carries the exact truths
 * p(y=1|x), p(z=1|y=1,x), p(z=1|x) = p(y=1,z=1|x) and the counterfactual
 * p(r=1|x) (the conversion probability if the impression were clicked).
 *
 * Confounding (ESMM_SIM_CONF_CLICK, ESMM_SIM_CONF_CONV; 0 by default = the
 * selection into clicks depends on the observed features only): every
 * impression draws a latent u ~ N(0,1) that no model sees, added to the
 * click logit with loading a and to the conversion logit with loading b.
 * Labels use the drawn u; the truths integrate it out exactly (Gauss-Hermite
 * quadrature, 40 nodes): p(y=1|x) = E_u s(lc + a u), p(r=1|x) = E_u s(lv +
 * b u), p(y=1,z=1|x) = E_u s(lc + a u) s(lv + b u), p(z=1|y=1,x) = p(y=1,
 * z=1|x) / p(y=1|x). With a, b > 0 clicked impressions convert more than the
 * same features would if every impression were clicked: p(z=1|y=1,x) >
 * p(r=1|x). With a = b = 0 the rows, labels and truths are bit-identical to
 * earlier releases and p(r=1|x) = p(z=1|y=1,x).
 *
 * The hidden model is a function of ESMM_SIM_SEED and the options only;
 * each esmm_sim_generate call draws its rows from a stream number, so train
 * (stream 0) and test (stream 1) sets are independent draws from the same
 * world, and the same call always yields the same rows.
 *
 * Thread safety: a simulator is not thread-safe; distinct ones are
 * independent.
 */
#ifndef ESMM_SIM_H
#define ESMM_SIM_H

#include "common.h"
#include "config.h"
#include "dataset.h"

ESMM_BEGIN_DECLS

typedef struct esmm_sim esmm_sim;

/* Simulator options. Pinned, append-only. Defaults in parentheses. */
typedef enum {
  ESMM_SIM_SEED = 100,          /* int (1) seed of the hidden world, [0,2^63) */
  ESMM_SIM_USERS = 101,         /* int (5000) distinct users, [1,1e9] */
  ESMM_SIM_ITEMS = 102,         /* int (20000) distinct items, [1,1e9] */
  ESMM_SIM_ROWS_PER_USER = 103, /* float (20) mean impressions per user group, [1,1e4] */
  ESMM_SIM_ZIPF = 104,          /* float (1.1) Zipf exponent of id popularity, [0,4] */
  ESMM_SIM_CTR = 200,           /* float (0.04) mean p(y=1|x), [1e-4,0.9] */
  ESMM_SIM_CVR = 201,           /* float (0.05) mean p(z=1|y=1,x) over clicks, [1e-4,0.9] */
  ESMM_SIM_SIGNAL = 202,        /* float (1.0) scale of the feature effects on
                                   both logits (0 = labels are pure noise), [0,10] */
  ESMM_SIM_CVR_CTR_CORR = 203,  /* float (0.3) correlation of the per-id click and
                                   conversion effects, [-1,1] */
  ESMM_SIM_CONF_CLICK = 204,    /* float (0) loading a of the latent u on the click
                                   logit, [0,5]. @since 1.0 */
  ESMM_SIM_CONF_CONV = 205,     /* float (0) loading b of the latent u on the
                                   conversion logit, [0,5]. @since 1.0 */
  ESMM_SIM_HIST_MAX = 300       /* int (40) most draws into each of the four
                                   behaviour histories (at least min(5, it)),
                                   [1,40]; lower = lighter rows. @since 1.1 */
} esmm_sim_opt;

/**
 * Create a simulator with default options.
 * @param cfg  only its allocator is used (NULL = default); datasets made by
 *             the simulator carry the 23 Ali-CCP fields, which are also the
 *             default field list of esmm_config_new.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_sim_new(esmm_sim **out, const esmm_config *cfg);

/** Free a simulator; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_sim_free(esmm_sim *sim);

/** Set an integer option. @return ESMM_OK, ESMM_EINVAL (unknown option, out of bounds). @since 1.0 */
ESMM_API int esmm_sim_set_int(esmm_sim *sim, int opt, int64_t value);

/** Set a float option. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_sim_set_float(esmm_sim *sim, int opt, double value);

/**
 * Set an option by name ("seed", "users", "items", "rows_per_user", "zipf",
 * "ctr", "cvr", "signal", "cvr_ctr_corr", "conf_click", "conf_conv", "hist_max");
 * locale-independent parsing.
 * @return ESMM_OK, ESMM_EINVAL. @since 1.0
 */
ESMM_API int esmm_sim_set_by_name(esmm_sim *sim, const char *name, const char *value);

/**
 * Draw n_rows impressions (whole user groups, the last one cut to fit) from
 * stream `stream` into a new dataset, with every ground-truth column set.
 * @return ESMM_OK, ESMM_EINVAL (n_rows == 0), ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_sim_generate(esmm_sim *sim, size_t n_rows, uint64_t stream, esmm_dataset **out);

ESMM_END_DECLS

#endif /* ESMM_SIM_H */
