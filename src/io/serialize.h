/*
 * io/serialize.h (internal) - the model file format (docs/model-format.md)
 * Owns the byte layout of model files and the atomic
 * save; reaches parameters only through esmm__model_tensors and the config
 * only through esmm__config_to_text / esmm__config_from_text. Knows nothing
 * of training, datasets or how the parts compute.
 */
#ifndef ESMM__SERIALIZE_H
#define ESMM__SERIALIZE_H

#include "internal.h"

/* Format version written by this library and the newest one it reads. */
#define ESMM__FORMAT_VERSION 1u

/* Section kinds (pinned; 4 and 5 reserved for the checkpoint format). */
#define ESMM__SECTION_CONFIG 1u
#define ESMM__SECTION_TENSOR_INDEX 2u
#define ESMM__SECTION_TENSOR_DATA 3u
#define ESMM__SECTION_OPTIMIZER 4u
#define ESMM__SECTION_TRAINING 5u

/* The CRC-32 of every section (src/crc32.h). */
#include "crc32.h"

#endif /* ESMM__SERIALIZE_H */
