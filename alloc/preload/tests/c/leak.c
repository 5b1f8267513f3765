/* A service loop with one slow leak, built like a release binary (-O2, no frame
 * pointers): every request allocates and frees a few buffers of its own, and every 16th
 * request inserts an entry into a cache that is never trimmed (`cache_insert`). Runs
 * until killed, or for argv[1] seconds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct entry {
    struct entry *next;
    char payload[];
};

static struct entry *cache;

/* The leak: one 1 KiB entry per call, kept for ever. */
__attribute__((noinline)) static void cache_insert(uint64_t key) {
    struct entry *e = malloc(sizeof(struct entry) + 1024);
    if (!e)
        abort();
    memset(e->payload, (int)key, 1024);
    e->next = cache;
    cache = e;
}

/* Churn: buffers that live for one request. */
__attribute__((noinline)) static uint64_t handle_request(uint64_t n) {
    char *parts[8];
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++) {
        size_t len = 16 + (size_t)((n * 7 + (uint64_t)i * 13) % 2000);
        parts[i] = malloc(len);
        if (!parts[i])
            abort();
        memset(parts[i], i, len);
        sum += (unsigned char)parts[i][len / 2];
    }
    for (int i = 0; i < 8; i++)
        free(parts[i]);
    if (n % 16 == 0)
        cache_insert(n);
    return sum;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1e9;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t sum = 0;
    for (uint64_t n = 1;; n++) {
        sum += handle_request(n);
        if (n % 64 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            double t = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
            if (t >= seconds)
                break;
            usleep(1000);
        }
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
