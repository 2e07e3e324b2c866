/*
 * sim.h (internal) - the simulator's exact truths under latent confounding,
 * exposed for tests (tests/check_sim.c checks them against Monte Carlo).
 * Knows nothing of models.
 */
#ifndef ESMM__SIM_H
#define ESMM__SIM_H

#define ESMM__SIM_GH_NODES 40 /* Gauss-Hermite nodes for E_u over u ~ N(0,1) */

/* Nodes x_k and weights w_k with E[f(u)] ~ sum_k w_k f(x_k) for u ~ N(0,1)
 * (probabilists' form: x_k = sqrt(2) t_k, w_k = omega_k / sqrt(pi) for the
 * physicists' rule t, omega); exact for polynomials of degree < 2n. */
void esmm__sim_gauss_hermite(int n, double *x, double *w);

/* The truths of one impression with click logit lc, conversion logit lv
 * (everything observed), and latent loadings a (click) and b (conversion)
 * on u ~ N(0,1):
 *   *p_click = E_u[s(lc + a u)]                    p(y=1|x)
 *   *p_cf    = E_u[s(lv + b u)]                    p(r=1|x), the counterfactual CVR
 *   *p_both  = E_u[s(lc + a u) s(lv + b u)]        p(y=1,z=1|x)
 * with the ESMM__SIM_GH_NODES-node rule x, w (exact forms when a = b = 0). */
void esmm__sim_truths(double lc, double lv, double a, double b, const double *x, const double *w,
                      double *p_click, double *p_cf, double *p_both);

#endif /* ESMM__SIM_H */
