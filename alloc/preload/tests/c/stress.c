/* Stress run for tests/stress.rs: 4 threads for SECONDS seconds. Each thread allocates
 * blocks of random sizes (mostly small, some medium, a few large), fills them with a
 * pattern derived from the block's address and a per-block seed, sometimes reallocs
 * them (checking the kept prefix), and passes them through a queue to the next thread,
 * which verifies the whole pattern and frees them. Prints the final counts.
 *   stress SECONDS                                                                    */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define QCAP 1024

struct block { uint64_t *p; size_t words; uint64_t seed; };
struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct block items[QCAP];
    size_t head, len;
    int closed;
};
static struct queue queues[THREADS];
static uint64_t allocated[THREADS], verified[THREADS], corrupt[THREADS], reallocs[THREADS];
static uint64_t bytes[THREADS];
static double seconds;
static int producers_left = THREADS;
static pthread_mutex_t left_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}
static uint64_t word(const struct block *b, size_t i) { return mix((uintptr_t)b->p ^ b->seed ^ (i * 0x9e3779b97f4a7c15ULL)); }
static void fill(struct block *b) { for (size_t i = 0; i < b->words; i++) b->p[i] = word(b, i); }
static int check(const struct block *b) {
    for (size_t i = 0; i < b->words; i++) if (b->p[i] != word(b, i)) return 0;
    return 1;
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void push(struct queue *q, struct block b) {
    pthread_mutex_lock(&q->lock);
    while (q->len == QCAP) pthread_cond_wait(&q->cond, &q->lock);
    q->items[(q->head + q->len++) % QCAP] = b;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}
/* Pops up to `max` blocks; 0 when the queue is closed and empty. */
static size_t pop(struct queue *q, struct block *out, size_t max, int wait) {
    pthread_mutex_lock(&q->lock);
    while (wait && q->len == 0 && !q->closed) pthread_cond_wait(&q->cond, &q->lock);
    size_t n = 0;
    while (n < max && q->len) { out[n++] = q->items[q->head]; q->head = (q->head + 1) % QCAP; q->len--; }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return n;
}

static void consume(int me, struct block *bs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (check(&bs[i])) verified[me]++; else corrupt[me]++;
        free(bs[i].p);
    }
}

static void *run(void *arg) {
    int me = (int)(uintptr_t)arg;
    struct queue *out = &queues[(me + 1) % THREADS], *in = &queues[me];
    uint64_t rng = mix(me + 1);
    struct block got[64];
    double end = now() + seconds;
    while (1) {
        for (int k = 0; k < 256; k++) {
            rng = mix(rng);
            size_t size;
            unsigned r = rng % 1000;
            if (r < 900) size = 8 + rng % 1024;            /* small */
            else if (r < 990) size = 1024 + (rng >> 20) % 32768; /* medium */
            else size = 32768 + (rng >> 24) % (1 << 20);   /* large */
            struct block b = { malloc(size), size / 8, rng };
            if (!b.p) { corrupt[me]++; continue; }
            fill(&b);
            if (r % 16 == 0) { /* realloc: the kept prefix must survive the move */
                size_t keep = b.words / 2;
                uint64_t *q = realloc(b.p, keep * 8 + 8);
                for (size_t i = 0; i < keep; i++) if (q[i] != word(&b, i)) { corrupt[me]++; break; }
                b.p = q; b.words = keep; fill(&b); reallocs[me]++;
            }
            allocated[me]++;
            bytes[me] += size;
            push(out, b);
            consume(me, got, pop(in, got, 64, 0));
        }
        if (now() >= end) break;
    }
    pthread_mutex_lock(&left_lock);
    if (--producers_left == 0)
        for (int i = 0; i < THREADS; i++) {
            pthread_mutex_lock(&queues[i].lock);
            queues[i].closed = 1;
            pthread_cond_broadcast(&queues[i].cond);
            pthread_mutex_unlock(&queues[i].lock);
        }
    pthread_mutex_unlock(&left_lock);
    size_t n;
    while ((n = pop(in, got, 64, 1)) != 0) consume(me, got, n);
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 30;
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_init(&queues[i].lock, NULL);
        pthread_cond_init(&queues[i].cond, NULL);
    }
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    uint64_t a = 0, v = 0, c = 0, r = 0, b = 0;
    for (int i = 0; i < THREADS; i++) { a += allocated[i]; v += verified[i]; c += corrupt[i]; r += reallocs[i]; b += bytes[i]; }
    printf("threads %d allocated %llu verified %llu corrupt %llu reallocs %llu bytes %llu\n", THREADS,
           (unsigned long long)a, (unsigned long long)v, (unsigned long long)c, (unsigned long long)r,
           (unsigned long long)b);
    return c != 0;
}
