/* Heap misuse under SLABSCOPE_CHECK: `misuse KIND` performs one misuse of kind KIND,
 * then checks that the allocator still works (distinct blocks, contents kept), prints
 * "ready", waits for stdin to close (the test reads the segment meanwhile) and exits 0. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

static void check_still_works(void) {
    enum { N = 2000 };
    static unsigned char *v[N];
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i % 300);
        v[i] = malloc(n);
        if (!v[i]) { puts("malloc failed"); exit(2); }
        memset(v[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i % 300);
        for (size_t k = 0; k < n; k++)
            if (v[i][k] != (i & 0xff)) { printf("block %d changed\n", i); exit(3); }
    }
    for (int i = 0; i < N; i++) free(v[i]);
}

static pthread_barrier_t bar;
static void *volatile shared;

static void *racer(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) {
        pthread_barrier_wait(&bar);
        free(shared);
        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *k = argc > 1 ? argv[1] : "";
    if (!strcmp(k, "double_free")) {
        char *p = malloc(40);
        free(p);
        free(p);
        char *a = malloc(40), *b = malloc(40);
        if (a == b) { puts("same block twice"); return 4; }
    } else if (!strcmp(k, "double_free_threads")) {
        pthread_t t;
        pthread_barrier_init(&bar, NULL, 2);
        pthread_create(&t, NULL, racer, NULL);
        for (int i = 0; i < 200; i++) {
            shared = malloc(24 + (size_t)i);
            pthread_barrier_wait(&bar);
            free(shared);
            pthread_barrier_wait(&bar);
            pthread_barrier_wait(&bar);
        }
        pthread_join(t, NULL);
    } else if (!strcmp(k, "double_free_large")) {
        char *p = malloc(1 << 20);
        free(p);
        free(p);
    } else if (!strcmp(k, "invalid_header")) {
        char *p = malloc(64);
        uintptr_t header = (uintptr_t)p & ~(uintptr_t)((2 << 20) - 1);
        free((void *)(header + 128));
        free(p);
    } else if (!strcmp(k, "invalid_interior")) {
        char *p = malloc(200);
        memset(p, 7, 200);
        free(p + 24);
        for (int i = 0; i < 200; i++) if (p[i] != 7) { puts("block changed"); return 5; }
        free(p);
    } else if (!strcmp(k, "write_after_free")) {
        /* The freed block waits in the thread's quarantine (256 frees) before the
         * magazine hands it out again. */
        enum { Q = 256 };
        static char *others[Q];
        char *p = malloc(300);
        for (int i = 0; i < Q; i++) others[i] = malloc(300);
        free(p);
        p[40] = 1;
        for (int i = 0; i < Q; i++) free(others[i]);
        char *q = malloc(300);
        if (q != p) { puts("not the same block"); return 6; }
        free(q);
    } else if (!strcmp(k, "double_free_after_reuse")) {
        char *p = malloc(64);
        free(p);
        char *q = malloc(64);
        if (q == p) { puts("freed block handed out at once"); return 9; }
        memset(q, 0x42, 64);
        free(p);
        for (int i = 0; i < 64; i++) if (q[i] != 0x42) { puts("q changed"); return 10; }
        free(q);
    } else if (!strcmp(k, "overflow")) {
        char *p = malloc(37);
        p[37] = 1;
        free(p);
    } else if (!strcmp(k, "overflow_large")) {
        char *p = malloc(500000);
        p[500001] = 1;
        free(p);
    } else if (!strcmp(k, "realloc_freed")) {
        char *p = malloc(80);
        free(p);
        sink = realloc(p, 160);
        if (sink) { puts("realloc of a freed block succeeded"); return 7; }
    } else if (!strcmp(k, "overflow_realloc")) {
        char *p = malloc(10);
        memset(p, 3, 11);
        char *q = realloc(p, 1000);
        for (int i = 0; i < 10; i++) if (q[i] != 3) { puts("realloc lost bytes"); return 8; }
        free(q);
    } else {
        printf("unknown kind %s\n", k);
        return 1;
    }
    check_still_works();
    puts("ready");
    fflush(stdout);
    while (getchar() != EOF) {}
    return 0;
}
