"""The package's version and the library versions it can drive."""

__version__ = "0.1.0"

# bc_version_number() is MAJOR * 10000 + MINOR * 100 + PATCH. A library of
# another major version may have changed the C API; one older than the
# minimum lacks something the bindings call.
LIBRARY_MAJOR = 0
LIBRARY_MINIMUM = 100  # 0.1.0
