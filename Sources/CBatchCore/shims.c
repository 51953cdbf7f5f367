#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "shims.h"

/* The file of the binary image holding this code: libbatchcore.so for C and
 * Python hosts, the executable for batchhost. Bundled plugins sit beside it.
 * For the executable the loader only knows argv[0] ("batchhost" when it was
 * found through PATH), so its file comes from /proc/self/exe. The path is
 * resolved (symbolic links, relative directories) once. */
static char image_path[PATH_MAX];

static void find_image_path(void) {
    Dl_info info;
    struct link_map *map = NULL;
    if (dladdr1((void *)&bc_shim_image_path, &info, (void **)&map, RTLD_DL_LINKMAP) == 0) return;
    if (map != NULL && map->l_name[0] == '\0') {  /* the main executable */
        ssize_t n = readlink("/proc/self/exe", image_path, sizeof image_path - 1);
        image_path[n > 0 ? n : 0] = '\0';
    } else if (info.dli_fname == NULL || realpath(info.dli_fname, image_path) == NULL) {
        image_path[0] = '\0';
    }
}

const char *bc_shim_image_path(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_image_path);
    return image_path[0] ? image_path : NULL;
}

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

static void hex_digest(const unsigned char digest[32], char out_hex[65]) {
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < 32; i++) {
        out_hex[2 * i] = hex[digest[i] >> 4];
        out_hex[2 * i + 1] = hex[digest[i] & 15];
    }
    out_hex[64] = 0;
}

void bc_shim_sha256(const void *data, size_t len, char out_hex[65]) {
    unsigned char digest[32];
    unsigned int length = 0;
    EVP_Digest(data, len, digest, &length, EVP_sha256(), NULL);
    hex_digest(digest, out_hex);
}

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
    hex_digest(digest, out_hex);
    return 0;
}

/* ---- Worker processes -------------------------------------------------- */

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

int bc_shim_limit_memory(unsigned long long bytes) {
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);  /* a crashing plugin is reported, not dumped */
    if (bytes == 0) return 0;
    struct rlimit limit = { (rlim_t)bytes, (rlim_t)bytes };
    return setrlimit(RLIMIT_AS, &limit) == 0 ? 0 : errno;
}

static int crash_fd = -1;
static char crash_stack[1 << 16];  /* the handler still runs when the stack overflowed */

/* Address-space size from /proc/self/statm (its first field, in pages). */
static uint64_t address_space_bytes(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[64];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    uint64_t pages = 0;
    for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; i++) pages = pages * 10 + (uint64_t)(text[i] - '0');
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void report_crash(int sig) {
    int32_t saved_errno = errno;
    /* u32 length, u8 kind 15 (dying), i32 signal, i32 errno, u64 address space. */
    unsigned char frame[4 + 1 + 4 + 4 + 8];
    uint32_t length = sizeof frame - 4;
    int32_t signal_number = sig;
    uint64_t size = address_space_bytes();
    memcpy(frame, &length, 4);
    frame[4] = 15;
    memcpy(frame + 5, &signal_number, 4);
    memcpy(frame + 9, &saved_errno, 4);
    memcpy(frame + 13, &size, 8);
    if (crash_fd >= 0) (void)!write(crash_fd, frame, sizeof frame);
    raise(sig);  /* SA_RESETHAND restored the default action: die of it */
}

void bc_shim_install_crash_report(int fd) {
    crash_fd = fd;
    stack_t alt = { .ss_sp = crash_stack, .ss_size = sizeof crash_stack, .ss_flags = 0 };
    sigaltstack(&alt, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report_crash;
    action.sa_flags = (int)(SA_RESETHAND | SA_ONSTACK | SA_NODEFER);
    sigemptyset(&action.sa_mask);
    const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTRAP };
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &action, NULL);
}

int bc_shim_http_date(const char *text, long long *seconds) {
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y",
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm fields;
        memset(&fields, 0, sizeof fields);
        const char *end = strptime(text, formats[i], &fields);
        if (end != NULL && *end == '\0') {
            *seconds = (long long)timegm(&fields);
            return 1;
        }
    }
    return 0;
}
