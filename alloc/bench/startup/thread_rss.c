/* 64 threads that each use 40 size classes a little (one block of each kept, one of two
 * freed), all alive at once; prints the process's RssAnon then: what the allocator's
 * per-thread state costs a program with many threads that allocate little each.
 *   cc -O2 -pthread -o target/bench/startup/thread_rss alloc/bench/startup/thread_rss.c
 *   LD_PRELOAD=... target/bench/startup/thread_rss */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 64
#define SIZES 40

static pthread_barrier_t ready, done;

static void *run(void *arg) {
    (void)arg;
    void *keep[SIZES];
    for (int i = 0; i < SIZES; i++) {
        keep[i] = malloc(16 + i * 48);
        memset(keep[i], 1, 16);
    }
    for (int i = 0; i < SIZES; i += 2) free(keep[i]);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    for (int i = 1; i < SIZES; i += 2) free(keep[i]);
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    pthread_barrier_init(&ready, NULL, THREADS + 1);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, run, NULL);
    pthread_barrier_wait(&ready);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssAnon:", 8)) fputs(line, stdout);
    if (f) fclose(f);
    pthread_barrier_wait(&done);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    return 0;
}
