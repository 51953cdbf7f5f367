/* Debian's poppler-glib (with cairo) for the pdf and ocr plugins. The
 * module exists so SwiftPM finds its compiler and linker flags through
 * pkg-config; the plugins include poppler.h themselves. */
#include <poppler.h>
#include <cairo.h>
