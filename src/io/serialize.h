/*
 * io/serialize.h (internal) - the model file format (docs/model-format.md)
 * and the CRC32 it uses. Owns the byte layout of model files and the atomic
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

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), identical to
 * zlib's crc32(): start with crc = 0 and pass the previous result to
 * continue over more bytes. esmm__crc32(0, "123456789", 9) == 0xCBF43926.
 * Table-driven over a compile-time constant table: no state, thread-safe. */
uint32_t esmm__crc32(uint32_t crc, const void *buf, size_t n);

#endif /* ESMM__SERIALIZE_H */
