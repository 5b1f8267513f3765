/* How a preloaded program ends, for tests/segment_life.rs: each mode allocates (so the
 * process has a segment), says "ready" on stdout, then ends its own way. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *keep[64];

static void allocate(void) {
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc(24 + 8 * i);
        memset(keep[i], i, 24 + 8 * i);
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "return";
    allocate();
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (!strcmp(mode, "return")) return 0;
    if (!strcmp(mode, "exit")) exit(0);
    if (!strcmp(mode, "_exit")) _exit(0);
    if (!strcmp(mode, "_Exit")) _Exit(0);
    if (!strcmp(mode, "impossible")) {
        /* A request no machine can serve: a quiet NULL, no reason to keep the segment. */
        volatile size_t huge = (size_t)-2; /* hidden from the compiler's size check */
        void *p = malloc(huge);
        if (p) return 3;
        return 0;
    }
    if (!strcmp(mode, "segv")) {
        volatile int *bad = (volatile int *)(uintptr_t)16;
        *bad = 1;
        return 4;
    }
    if (!strcmp(mode, "wait")) {
        /* Until the test kills it. */
        for (;;) pause();
    }
    if (!strcmp(mode, "churn")) {
        /* Allocates and frees (slow paths every few thousand calls) until killed. */
        struct timespec ms = {0, 1000000};
        static void *volatile held; /* so the compiler keeps each pair */
        for (;;) {
            for (int i = 0; i < 4096; i++) {
                held = malloc(16 + (i & 255));
                free(held);
            }
            nanosleep(&ms, NULL);
        }
    }
    if (!strcmp(mode, "oom")) {
        /* More than SLABSCOPE_LIMIT allows: NULL, and the segment keeps the report. */
        void *volatile p = malloc((size_t)256 << 20); /* kept: the call must happen */
        if (p) return 5;
        return 0;
    }
    if (!strcmp(mode, "fork_exit")) {
        /* A forked worker that ends with _exit, and the parent that waits for it. */
        pid_t c = fork();
        if (c == 0) {
            allocate();
            _exit(0);
        }
        int st;
        while (waitpid(c, &st, 0) < 0) {}
        return 0;
    }
    return 2;
}
