/*
 * esmm/common.h - export macro, C++ linkage guards and the integer types every
 * public header uses. Included by every other public header; include
 * <esmm/esmm.h> rather than this file directly.
 */
#ifndef ESMM_COMMON_H
#define ESMM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(ESMM_BUILDING_DLL)
#define ESMM_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ESMM_API __attribute__((visibility("default")))
#else
#define ESMM_API
#endif

#ifdef __cplusplus
#define ESMM_BEGIN_DECLS extern "C" {
#define ESMM_END_DECLS }
#else
#define ESMM_BEGIN_DECLS
#define ESMM_END_DECLS
#endif

#endif /* ESMM_COMMON_H */
