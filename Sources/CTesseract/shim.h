/* Debian's tesseract and leptonica for the ocr plugin (and the pdf
 * plugin's ocr=auto), found through pkg-config. */
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>
