/* Creates and joins N threads one after the other, each allocating and freeing one
 * block; prints the mean time per thread. What a thread's creation costs under an
 * LD_PRELOAD allocator (its static TLS block is copied, its allocator state made):
 *   cc -O2 -pthread -o target/bench/startup/threads alloc/bench/startup/threads.c
 *   LD_PRELOAD=... target/bench/startup/threads 3000 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *body(void *arg) {
    void *p = malloc(64);
    free(p);
    return arg;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    if (n <= 0) {
        fprintf(stderr, "usage: threads N\n");
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, 0, body, 0) != 0 || pthread_join(t, 0) != 0) {
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.2f us/thread\n", ns / 1e3 / n);
    return 0;
}
