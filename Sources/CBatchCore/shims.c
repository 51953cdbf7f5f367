#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "shims.h"

/* The file of the binary image holding this code: libbatchcore.so for C and
 * Python hosts, the executable for batchhost. Bundled plugins sit beside it. */
const char *bc_shim_image_path(void) {
    Dl_info info;
    if (dladdr((void *)&bc_shim_image_path, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

int bc_shim_sha256_file(const char *path, char out_hex[65]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return ENOMEM;
    }
    static __thread unsigned char buffer[1 << 16];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof buffer)) > 0) EVP_DigestUpdate(ctx, buffer, (size_t)n);
    int err = n < 0 ? errno : 0;
    close(fd);
    unsigned char digest[32];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    EVP_MD_CTX_free(ctx);
    if (err) return err;
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < 32; i++) {
        out_hex[2 * i] = hex[digest[i] >> 4];
        out_hex[2 * i + 1] = hex[digest[i] & 15];
    }
    out_hex[64] = 0;
    return 0;
}
