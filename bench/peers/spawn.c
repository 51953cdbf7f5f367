/*
 * spawn.c — the floor for "one process per document": reads paths from
 * standard input and runs `COMMAND... PATH` for each with posix_spawn,
 * keeping at most JOBS children alive, and nothing else (no output capture,
 * no bookkeeping). No tool that starts a process per document can beat it
 * by much on the same machine.
 *
 *     cc -O2 -o spawn bench/peers/spawn.c
 *     ./spawn JOBS COMMAND [ARG...] < paths.txt
 *
 * Exits 1 when a child did not exit 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static int reap(void) {
    int status;
    if (wait(&status) < 0) { perror("wait"); exit(2); }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn JOBS COMMAND [ARG...] < paths\n");
        return 2;
    }
    int jobs = atoi(argv[1]);
    if (jobs < 1) jobs = 1;
    int n = argc - 2;
    char **child = calloc((size_t)n + 2, sizeof *child);
    if (!child) return 2;
    memcpy(child, argv + 2, (size_t)n * sizeof *child);

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int running = 0, bad = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n') line[len - 1] = '\0';
        if (running == jobs) { bad |= reap(); running--; }
        child[n] = line;
        pid_t pid;
        int rc = posix_spawn(&pid, child[0], NULL, NULL, child, environ);
        if (rc != 0) { fprintf(stderr, "spawn: %s: %s\n", child[0], strerror(rc)); return 2; }
        running++;
    }
    while (running-- > 0) bad |= reap();
    free(line);
    free(child);
    return bad;
}
