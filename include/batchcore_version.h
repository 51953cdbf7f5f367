/*
 * batchcore_version.h — the version of batchcore, in one place.
 *
 * The library (bc_version_string, bc_version_number), `batchhost --version`
 * and the Python package all take their version from these three numbers.
 * Included by batchcore.h.
 */
#ifndef BATCHCORE_VERSION_H
#define BATCHCORE_VERSION_H

#define BC_VERSION_MAJOR 0 /* since 0.1 */
#define BC_VERSION_MINOR 2 /* since 0.1 */
#define BC_VERSION_PATCH 0 /* since 0.1 */

/* MAJOR * 10000 + MINOR * 100 + PATCH. since 0.1 */
#define BC_VERSION_NUMBER (BC_VERSION_MAJOR * 10000 + BC_VERSION_MINOR * 100 + BC_VERSION_PATCH)

/* "MAJOR.MINOR.PATCH", a string literal. since 0.2 */
#define BC_VERSION_STRING_(major, minor, patch) #major "." #minor "." #patch
#define BC_VERSION_STRING_X_(major, minor, patch) BC_VERSION_STRING_(major, minor, patch)
#define BC_VERSION_STRING BC_VERSION_STRING_X_(BC_VERSION_MAJOR, BC_VERSION_MINOR, BC_VERSION_PATCH)

#endif /* BATCHCORE_VERSION_H */
