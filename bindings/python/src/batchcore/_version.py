"""The library versions the package can drive.

The package has no version of its own: ``batchcore.__version__`` is the
loaded library's (bc_version_string), and the packaging metadata's is read
from include/batchcore_version.h when the package is built (setup.py).
"""

# bc_version_number() is MAJOR * 10000 + MINOR * 100 + PATCH. A library of
# another major version may have changed the C API; one older than the
# minimum lacks something the bindings call or read (bc_result's 0.2 fields).
LIBRARY_MAJOR = 0
LIBRARY_MINIMUM = 200  # 0.2.0
