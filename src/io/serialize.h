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

/* The newest format version this library reads and writes. Files without
 * metadata are written as version 1 (byte for byte as by libesmm 1.0);
 * version 2 adds section flags and the metadata section. */
#define ESMM__FORMAT_VERSION 2u
#define ESMM__FORMAT_VERSION_1 1u

/* Section kinds (pinned; 4 and 5 reserved for the checkpoint format). */
#define ESMM__SECTION_CONFIG 1u
#define ESMM__SECTION_TENSOR_INDEX 2u
#define ESMM__SECTION_TENSOR_DATA 3u
#define ESMM__SECTION_OPTIMIZER 4u
#define ESMM__SECTION_TRAINING 5u
#define ESMM__SECTION_META 6u /* version 2: metadata (esmm_config_set_meta) */
#define ESMM__SECTION_KINDS 6u /* kinds this library knows: 1 .. ESMM__SECTION_KINDS */

/* Version 2 section flags (the u32 at +4 of a table entry; 0 in version 1). */
#define ESMM__SECTION_OPTIONAL 1u /* a reader that does not know the kind may ignore the section */

/* The CRC-32 of every section (src/crc32.h). */
#include "crc32.h"

#endif /* ESMM__SERIALIZE_H */
