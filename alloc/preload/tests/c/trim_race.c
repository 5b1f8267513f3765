/* Threads freeing blocks of one owner's slots (remote frees) while another thread
 * calls malloc_trim(0) in a loop, with SLABSCOPE_EMPTY_CACHE=0 so that every empty
 * SuperSlab is unmapped at once. Every block carries a pattern derived from its
 * address, checked before it is freed: a block handed out twice, or memory unmapped
 * under a thread, shows as a changed byte or a crash.
 *
 *   trim_race SECONDS   prints "blocks N verified N corrupt N trims N" */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FREERS 2
#define BATCH 64
#define QUEUE 64

static volatile int stop;
static unsigned long verified[FREERS + 1], corrupt[FREERS + 1], trims, blocks;

struct batch { size_t n; size_t size[BATCH]; unsigned char *p[BATCH]; };
static struct { pthread_mutex_t m; pthread_cond_t c; struct batch *q[QUEUE]; int head, tail; }
    queues[FREERS];

static unsigned char pattern(const unsigned char *p, size_t i) {
    return (unsigned char)(((uintptr_t)p >> 4) ^ i ^ 0x5a);
}

static void fill(unsigned char *p, size_t size) {
    for (size_t i = 0; i < size; i++) p[i] = pattern(p, i);
}

static int check(const unsigned char *p, size_t size) {
    for (size_t i = 0; i < size; i++)
        if (p[i] != pattern(p, i)) return 0;
    return 1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void push(int k, struct batch *b) {
    pthread_mutex_lock(&queues[k].m);
    while ((queues[k].tail + 1) % QUEUE == queues[k].head && !stop)
        pthread_cond_wait(&queues[k].c, &queues[k].m);
    queues[k].q[queues[k].tail] = b;
    queues[k].tail = (queues[k].tail + 1) % QUEUE;
    pthread_cond_broadcast(&queues[k].c);
    pthread_mutex_unlock(&queues[k].m);
}

static struct batch *pop(int k) {
    pthread_mutex_lock(&queues[k].m);
    while (queues[k].head == queues[k].tail && !stop)
        pthread_cond_wait(&queues[k].c, &queues[k].m);
    struct batch *b = NULL;
    if (queues[k].head != queues[k].tail) {
        b = queues[k].q[queues[k].head];
        queues[k].head = (queues[k].head + 1) % QUEUE;
    }
    pthread_cond_broadcast(&queues[k].c);
    pthread_mutex_unlock(&queues[k].m);
    return b;
}

static void free_batch(int who, struct batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        if (check(b->p[i], b->size[i])) verified[who]++; else corrupt[who]++;
        free(b->p[i]);
    }
    free(b);
}

static void *freer(void *arg) {
    int k = (int)(intptr_t)arg;
    struct batch *b;
    while ((b = pop(k))) free_batch(k, b);
    return NULL;
}

static void *trimmer(void *arg) {
    (void)arg;
    while (!stop) { malloc_trim(0); trims++; }
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    void (*delay)(unsigned) = (void (*)(unsigned))dlsym(RTLD_DEFAULT,
                                                        "slabscope_test_set_remote_push_delay");
    if (delay) delay(2000);
    for (int k = 0; k < FREERS; k++) {
        pthread_mutex_init(&queues[k].m, NULL);
        pthread_cond_init(&queues[k].c, NULL);
    }
    pthread_t f[FREERS], t;
    for (int k = 0; k < FREERS; k++) pthread_create(&f[k], NULL, freer, (void *)(intptr_t)k);
    pthread_create(&t, NULL, trimmer, NULL);
    struct batch *kept = NULL;
    double end = now() + seconds;
    unsigned long round = 0;
    while (now() < end) {
        /* One batch to each freer, one kept until the next round (then freed here). */
        for (int k = 0; k <= FREERS; k++) {
            struct batch *b = malloc(sizeof *b);
            b->n = BATCH;
            for (size_t i = 0; i < BATCH; i++) {
                b->size[i] = 48 + (size_t)((round + i) % 4) * 80;
                b->p[i] = malloc(b->size[i]);
                fill(b->p[i], b->size[i]);
                blocks++;
            }
            if (k < FREERS) {
                push(k, b);
            } else {
                if (kept) free_batch(FREERS, kept);
                kept = b;
            }
        }
        round++;
    }
    if (kept) free_batch(FREERS, kept);
    stop = 1;
    for (int k = 0; k < FREERS; k++) {
        pthread_mutex_lock(&queues[k].m);
        pthread_cond_broadcast(&queues[k].c);
        pthread_mutex_unlock(&queues[k].m);
    }
    for (int k = 0; k < FREERS; k++) pthread_join(f[k], NULL);
    pthread_join(t, NULL);
    /* Batches still queued when the freers stopped. */
    for (int k = 0; k < FREERS; k++) {
        struct batch *b;
        while (queues[k].head != queues[k].tail) {
            b = queues[k].q[queues[k].head];
            queues[k].head = (queues[k].head + 1) % QUEUE;
            free_batch(k, b);
        }
    }
    unsigned long v = 0, c = 0;
    for (int k = 0; k <= FREERS; k++) { v += verified[k]; c += corrupt[k]; }
    printf("blocks %lu verified %lu corrupt %lu trims %lu delay %d\n", blocks, v, c, trims,
           delay != NULL);
    return c != 0;
}
