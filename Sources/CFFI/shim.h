/* libffi for Swift. Swift 6's strict concurrency refuses to touch the global
   `ffi_type_*` variables directly (mutable globals), so they are reached
   through these accessors; the variables are never written after load. */
#ifndef BATCHCORE_CFFI_SHIM_H
#define BATCHCORE_CFFI_SHIM_H

#include <ffi.h>

static inline ffi_type *bc_ffi_type_void(void) { return &ffi_type_void; }
static inline ffi_type *bc_ffi_type_uint8(void) { return &ffi_type_uint8; }
static inline ffi_type *bc_ffi_type_sint8(void) { return &ffi_type_sint8; }
static inline ffi_type *bc_ffi_type_uint16(void) { return &ffi_type_uint16; }
static inline ffi_type *bc_ffi_type_sint16(void) { return &ffi_type_sint16; }
static inline ffi_type *bc_ffi_type_uint32(void) { return &ffi_type_uint32; }
static inline ffi_type *bc_ffi_type_sint32(void) { return &ffi_type_sint32; }
static inline ffi_type *bc_ffi_type_uint64(void) { return &ffi_type_uint64; }
static inline ffi_type *bc_ffi_type_sint64(void) { return &ffi_type_sint64; }
static inline ffi_type *bc_ffi_type_float(void) { return &ffi_type_float; }
static inline ffi_type *bc_ffi_type_double(void) { return &ffi_type_double; }
static inline ffi_type *bc_ffi_type_pointer(void) { return &ffi_type_pointer; }

/* FFI_DEFAULT_ABI is an enum constant on some targets and a macro on others. */
static inline ffi_abi bc_ffi_default_abi(void) { return FFI_DEFAULT_ABI; }

/* libffi widens integer results narrower than a register to ffi_arg. */
static inline size_t bc_ffi_arg_size(void) { return sizeof(ffi_arg); }

#endif
