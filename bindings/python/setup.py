"""Build hook: records the checkout this package was built from.

Installing from a checkout (`pip install ./bindings/python`) copies the
package into site-packages, where it can no longer find the checkout's
`.build/release/libbatchcore.so` by looking around itself. So the build
writes the checkout's root into `batchcore/_build_info.py`; the loader
looks there after $BATCHCORE_LIBRARY and the package's own directory.
The package's version is the engine's: read from the checkout's
include/batchcore_version.h, the one file that holds it.
Everything else is declared in pyproject.toml.
"""
import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def find_checkout(start: Path):
    """The nearest ancestor holding the engine's sources, or None."""
    for directory in [start, *start.parents]:
        if (directory / "Package.swift").is_file() and (directory / "include" / "batchcore.h").is_file():
            return directory
    return None


def engine_version(checkout) -> str:
    """MAJOR.MINOR.PATCH from the checkout's include/batchcore_version.h."""
    if checkout is None:
        raise SystemExit("batchcore: build the Python package from a batchcore checkout: "
                         "its version is read from include/batchcore_version.h")
    header = (checkout / "include" / "batchcore_version.h").read_text()
    parts = [re.search(rf"#define BC_VERSION_{part} (\d+)", header) for part in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        raise SystemExit(f"batchcore: no BC_VERSION_MAJOR/MINOR/PATCH in {checkout / 'include' / 'batchcore_version.h'}")
    return ".".join(match.group(1) for match in parts)


class BuildWithCheckout(build_py):
    def run(self):
        # pip builds in the source tree: start from an empty build/lib/batchcore
        # so a module removed from src/ does not live on in the wheel.
        package = Path(self.build_lib) / "batchcore"
        shutil.rmtree(package, ignore_errors=True)
        super().run()
        checkout = find_checkout(Path(__file__).resolve().parent)
        target = package / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            '"""Written by setup.py at build time."""\n'
            f"CHECKOUT = {str(checkout) if checkout else None!r}\n")


setup(version=engine_version(find_checkout(Path(__file__).resolve().parent)),
      cmdclass={"build_py": BuildWithCheckout})
