"""The C API as ctypes sees it: structs, callback types and one table of signatures.

Everything here mirrors include/batchcore.h and include/batchcore_plugin.h;
the rest of the package calls the library only through :func:`lib`.
"""
from __future__ import annotations

import ctypes
import struct
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_ubyte,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from . import _library
from .errors import error_for

# ---- Constants -----------------------------------------------------------

BC_OUTCOME_DONE = 0
BC_OUTCOME_PARTIAL = 1
BC_OUTCOME_RETRY = 2
BC_OUTCOME_FAIL = 3
BC_OUTCOME_PENDING = 4

BC_PLUGIN_FLAG_NONBLOCKING = 1 << 1

BC_EVENT_DOC_FINISHED = 1
BC_EVENT_PROGRESS = 2
BC_EVENT_LOG = 3
BC_EVENT_FINISHED = 4

BC_CANCEL_GRACEFUL = 0
BC_CANCEL_HARD = 1

# ---- Structs (growing ones start with struct_size) -----------------------


class bc_doc(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("stage", c_uint32),
        ("attempt", c_uint32),
        ("reserved", c_uint32),
        ("id", c_char_p),
        ("path", c_char_p),
        ("metadata_json", c_char_p),
        # Pointers to char, not void: slicing one ([:length]) copies the bytes
        # a third as dearly as ctypes.string_at.
        ("input", POINTER(c_char)),
        ("input_len", c_size_t),
        ("content", POINTER(c_char)),  # since 0.2: an in-memory document's bytes
        ("content_len", c_size_t),
    ]


bc_process_fn = CFUNCTYPE(c_int, c_void_p, POINTER(bc_doc), c_void_p)
bc_release_fn = CFUNCTYPE(None, c_void_p)


class bc_host_api(Structure):
    """The host vtable create() and prepare() receive; only the members Python calls have their types."""
    _fields_ = [
        ("struct_size", c_uint32),
        ("abi_version", c_uint32),
        ("set_output", c_void_p),
        ("set_output_json", c_void_p),
        ("set_error", c_void_p),
        ("add_usage", c_void_p),
        ("retry_after", c_void_p),
        ("is_cancelled", c_void_p),
        ("log", c_void_p),
        ("config_get", c_void_p),
        ("add_units", c_void_p),
        ("set_prices", c_void_p),
        ("set_shared", CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)),
        ("shared", CFUNCTYPE(c_void_p, c_void_p, POINTER(c_size_t))),
        ("finish", c_void_p),  # since 0.2
        ("add_prepare_usage", c_void_p),  # since 0.2
    ]


# bc_plugin's callbacks, for a descriptor registered with bc_engine_register_plugin.
bc_plugin_create_fn = CFUNCTYPE(c_int, POINTER(bc_host_api), c_void_p, POINTER(c_void_p), c_void_p, c_size_t)
bc_plugin_process_fn = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(bc_doc))
bc_plugin_prepare_fn = CFUNCTYPE(c_int, POINTER(bc_host_api), c_void_p, c_void_p, c_size_t)
bc_plugin_destroy_fn = CFUNCTYPE(None, c_void_p)

BC_PLUGIN_ABI_MAJOR = 1
BC_PLUGIN_ABI_MINOR = 1


class bc_plugin(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("abi_version", c_uint32),
        ("name", c_char_p),
        ("version", c_char_p),
        ("description", c_char_p),
        ("flags", c_uint32),
        ("abi_minor", c_uint32),
        ("options", c_void_p),
        ("create", bc_plugin_create_fn),
        ("process", bc_plugin_process_fn),
        ("destroy", bc_plugin_destroy_fn),
        ("estimate", c_void_p),
        ("prepare", bc_plugin_prepare_fn),
    ]


class bc_processor_def(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved", c_uint32),
        ("name", c_char_p),
        ("description", c_char_p),
        ("process", bc_process_fn),
        ("release", bc_release_fn),
        ("user_data", c_void_p),
        ("flags", c_uint32),  # since 0.2: BC_PLUGIN_FLAG_*
    ]


class bc_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("state", c_uint32),
        ("total", c_uint64),
        ("total_known", c_uint32),
        ("workers", c_uint32),
        ("ok", c_uint64),
        ("partial", c_uint64),
        ("failed", c_uint64),
        ("skipped", c_uint64),
        ("in_flight", c_uint64),
        ("retry_waiting", c_uint64),
        ("attempts", c_uint64),
        ("retries", c_uint64),
        ("input_tokens", c_uint64),
        ("output_tokens", c_uint64),
        ("elapsed_seconds", c_double),
        ("docs_per_hour", c_double),
        ("mean_doc_ms", c_double),
        ("resumed", c_uint64),
        ("deduplicated", c_uint64),
        ("rate_limit_waiting", c_uint64),
        ("timeouts", c_uint64),
        ("units", c_uint64),
        ("cost_usd", c_double),
        ("estimated_total_cost_usd", c_double),
        ("budget_reached", c_uint32),
        ("reserved", c_uint32),
        ("sampled_from", c_uint64),
        ("projected_seconds", c_double),
        ("projected_cost_usd", c_double),
    ]


class bc_event(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("type", c_uint32),
        ("stats", POINTER(bc_stats)),
        ("doc_id", c_char_p),
        ("doc_path", c_char_p),
        ("status", c_uint32),
        ("attempts", c_uint32),
        ("error", c_char_p),
        ("duration_ms", c_double),
        ("log_level", c_int32),
        ("message", c_char_p),
    ]


bc_event_fn = CFUNCTYPE(None, POINTER(bc_event), c_void_p)

bc_line_fn = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)  # the line's address: copied once with string_at


class bc_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("status", c_uint32),
        ("id", c_char_p),
        ("path", c_char_p),
        ("output", POINTER(c_char)),  # sliced as bc_doc's input
        ("output_len", c_size_t),
        ("error", c_char_p),
        ("attempts", c_uint32),
        ("failed_stage", c_uint32),
        ("duration_ms", c_double),
        ("input_tokens", c_uint64),
        ("output_tokens", c_uint64),
        # since 0.2
        ("output_is_json", c_uint32),
        ("reserved", c_uint32),
        ("units", c_uint64),
        ("cost_usd", c_double),
        ("failed_stage_label", c_char_p),
        ("metadata_json", c_char_p),
        ("duplicate_of", c_char_p),
    ]


def field_reader(struct_type: type) -> struct.Struct:
    """A struct.Struct that reads every field of `struct_type` at once, in
    order, pointers as addresses: one call where reading each field through
    ctypes makes an object per field."""
    codes = []
    for _, field_type in struct_type._fields_:  # type: ignore[attr-defined]
        code = getattr(field_type, "_type_", None)  # a simple type's struct code; a pointer's is the type it points to
        codes.append(code if isinstance(code, str) and code not in "zZP" else "P")
    reader = struct.Struct("@" + "".join(codes))
    if reader.size != ctypes.sizeof(struct_type):
        raise ImportError(f"{struct_type.__name__}: {reader.size} bytes read by struct, {ctypes.sizeof(struct_type)} in C")
    return reader


RESULT_FIELDS = field_reader(bc_result)


def sized(struct_type: type) -> Any:
    """A zeroed struct with struct_size set, ready to be filled by the library."""
    value = struct_type()
    value.struct_size = ctypes.sizeof(struct_type)
    return value


# ---- Signatures ----------------------------------------------------------

CHECKED = "checked"  # returns int: negative raises the BatchcoreError of its code

_handle_out = POINTER(c_void_p)
_string_out = POINTER(c_void_p)  # char **, freed with bc_free

# name: (restype, argtypes). CHECKED functions raise on a negative return;
# the bc_call_* functions are called from processors, which must never
# raise inside the engine, so callers check those codes themselves.
SIGNATURES: Dict[str, Tuple[Any, Sequence[Any]]] = {
    "bc_version_string": (c_char_p, ()),
    "bc_version_number": (c_int, ()),
    "bc_error_message": (c_char_p, ()),
    "bc_error_name": (c_char_p, (c_int,)),
    "bc_free": (None, (c_void_p,)),
    "bc_options_describe": (CHECKED, (_string_out,)),
    # engine
    "bc_engine_new": (CHECKED, (_handle_out,)),
    "bc_engine_free": (None, (c_void_p,)),
    "bc_engine_set": (CHECKED, (c_void_p, c_char_p, c_char_p)),
    "bc_engine_register_processor": (CHECKED, (c_void_p, POINTER(bc_processor_def))),
    "bc_engine_register_plugin": (CHECKED, (c_void_p, POINTER(bc_plugin), bc_release_fn, c_void_p)),
    "bc_engine_list_processors": (CHECKED, (_string_out, c_void_p)),
    "bc_engine_stats": (CHECKED, (_string_out, c_void_p)),
    # batch
    "bc_batch_new": (CHECKED, (_handle_out, c_void_p)),
    "bc_batch_free": (None, (c_void_p,)),
    "bc_batch_set": (CHECKED, (c_void_p, c_char_p, c_char_p)),
    "bc_batch_add_stage": (CHECKED, (c_void_p, c_char_p, c_char_p)),
    "bc_batch_set_stage": (CHECKED, (c_void_p, c_char_p, c_char_p, c_char_p)),
    "bc_batch_add_file": (CHECKED, (c_void_p, c_char_p, c_char_p, c_char_p)),
    "bc_batch_add_content": (CHECKED, (c_void_p, c_char_p, c_char_p, c_size_t, c_char_p)),
    "bc_batch_add_contents": (CHECKED, (c_void_p, POINTER(c_char_p), POINTER(c_char_p), POINTER(c_size_t),
                                        POINTER(c_char_p), c_size_t)),
    "bc_batch_add_dir": (CHECKED, (c_void_p, c_char_p, c_char_p)),
    "bc_batch_add_manifest": (CHECKED, (c_void_p, c_char_p)),
    "bc_batch_add_list": (CHECKED, (c_void_p, c_char_p)),
    "bc_batch_set_event_callback": (CHECKED, (c_void_p, bc_event_fn, c_void_p)),
    "bc_batch_start": (CHECKED, (c_void_p,)),
    "bc_batch_wait": (CHECKED, (c_void_p, c_int64)),
    "bc_batch_cancel": (CHECKED, (c_void_p, c_int)),
    "bc_batch_retry": (CHECKED, (POINTER(c_size_t), c_void_p, POINTER(c_char_p), c_size_t)),
    "bc_batch_pause": (CHECKED, (c_void_p, c_int)),
    "bc_batch_stats": (CHECKED, (POINTER(bc_stats), c_void_p)),
    # results
    "bc_batch_results_from": (CHECKED, (_handle_out, c_void_p, c_size_t)),
    "bc_results_next_many": (CHECKED, (POINTER(bc_result), c_size_t, c_void_p)),
    "bc_results_free": (None, (c_void_p,)),
    # distributed batches (Redis)
    "bc_redis_submit": (CHECKED, (_string_out, c_void_p, c_char_p, c_int64)),
    "bc_redis_status": (CHECKED, (_string_out, c_char_p, c_char_p)),
    "bc_redis_collect": (CHECKED, (c_char_p, c_char_p, c_int, bc_line_fn, c_void_p)),
    "bc_redis_worker_start": (CHECKED, (_handle_out, c_void_p, c_char_p, c_int, c_char_p, c_int)),
    "bc_redis_worker_stop": (CHECKED, (c_void_p, c_int)),
    "bc_redis_worker_free": (None, (c_void_p,)),
    # in a process callback
    "bc_call_set_output": (c_int, (c_void_p, c_char_p, c_size_t)),
    "bc_call_set_output_json": (c_int, (c_void_p, c_char_p, c_size_t)),
    "bc_call_set_error": (c_int, (c_void_p, c_char_p)),
    "bc_call_add_usage": (c_int, (c_void_p, c_uint64, c_uint64)),
    "bc_call_add_units": (c_int, (c_void_p, c_uint64)),
    "bc_call_retry_after": (c_int, (c_void_p, c_uint64)),
    "bc_call_is_cancelled": (c_int, (c_void_p,)),
    "bc_call_log": (None, (c_void_p, c_int, c_char_p)),
    "bc_call_finish": (c_int, (c_void_p, c_int)),
    "bc_call_finish_with_outputs": (c_int, (POINTER(c_void_p), POINTER(c_int), POINTER(c_char_p), POINTER(c_size_t),
                                            POINTER(c_ubyte), POINTER(c_int), c_size_t)),
    # calls taken by an event loop
    "bc_call_queue_new": (CHECKED, (_handle_out,)),
    "bc_call_queue_fd": (CHECKED, (c_void_p,)),
    "bc_call_queue_take": (c_size_t, (c_void_p, POINTER(c_void_p), POINTER(c_void_p), c_size_t)),  # docs as addresses
    "bc_call_queue_free": (None, (c_void_p,)),
}


class _Library:
    """The loaded library with every signature applied."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.path = path
        self._cdll = cdll
        self._message = cdll.bc_error_message
        self._message.restype = c_char_p
        self._message.argtypes = []
        for name, (restype, argtypes) in SIGNATURES.items():
            function = getattr(cdll, name)
            function.argtypes = list(argtypes)
            if restype is CHECKED:
                function.restype = c_int
                function.errcheck = self._raise_on_negative
            else:
                function.restype = restype
            setattr(self, name, function)

    def address(self, name: str) -> int:
        """The address of a library function, to hand to C as a callback (bc_call_queue_push)."""
        address: int = ctypes.cast(getattr(self._cdll, name), c_void_p).value or 0
        return address

    def __getattr__(self, name: str) -> Any:  # only reached for names not in SIGNATURES
        raise AttributeError(f"{name} is not in batchcore's table of C signatures")

    def _raise_on_negative(self, result: int, function: Callable[..., Any], arguments: Tuple[Any, ...]) -> int:
        # Runs on the thread that made the call, right after it, so the
        # thread-local message is the one of this failure.
        if result < 0:
            message = (self._message() or b"").decode("utf-8", "replace")
            raise error_for(result, message or f"{function.__name__} failed with code {result}")
        return result

    def take_string(self, pointer: Optional[int]) -> str:
        """Decodes a char * the library allocated, then frees it with bc_free."""
        if not pointer:
            return ""
        try:
            return ctypes.string_at(pointer).decode("utf-8")
        finally:
            self.bc_free(pointer)


_lib: Optional[_Library] = None


def lib() -> Any:
    """The library, loaded and typed on first use (see _library for where it is looked for)."""
    global _lib
    if _lib is None:
        cdll, path = _library.load()
        _lib = _Library(cdll, path)
    return _lib


def handle(out: c_void_p) -> int:
    """The handle a successful bc_*_new wrote into `out`."""
    if not out.value:
        raise RuntimeError("libbatchcore returned success and a NULL handle")
    return out.value


def encode(text: Optional[str]) -> Optional[bytes]:
    """A Python string as a C string argument (None stays NULL)."""
    return None if text is None else text.encode("utf-8")


def decode(raw: Optional[bytes]) -> Optional[str]:
    """A C string from the library as a Python string (NULL is None)."""
    return None if raw is None else raw.decode("utf-8", "replace")


def decode_name(raw: Optional[bytes]) -> Optional[str]:
    """A document id or path from the library: stray bytes of a name that is
    not UTF-8 become surrogate escapes, so os.fsencode() gives them back."""
    return None if raw is None else raw.decode("utf-8", "surrogateescape")
