/*
 * esmm/esmm.h - umbrella header of libesmm, the Entire Space Multi-Task
 * Model (Ma et al., SIGIR 2018) library. Include this one.
 */
#ifndef ESMM_ESMM_H
#define ESMM_ESMM_H

#include "common.h"
#include "version.h"
#include "errors.h"
#include "config.h"
#include "dataset.h"
#include "io.h"
#include "sim.h"
#include "model.h"
#include "optimizer.h"
#include "metrics.h"
#include "embedding.h"
#include "mlp.h"
#include "head.h"
#include "loss.h"
#include "diag.h"
#include "comm.h"
#include "modelfile.h"
#include "fit.h"

#endif /* ESMM_ESMM_H */
