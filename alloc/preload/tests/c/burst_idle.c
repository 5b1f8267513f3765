/* Sixteen threads allocate 2 MiB each of 1000-byte blocks at the same moment, mapping
 * SuperSlabs faster than the slow paths between them grow the segment's SuperSlab
 * table; then every thread blocks with its blocks held. The main thread writes "ready"
 * (with write(2): no allocation after the burst) and waits for its stdin to close. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 16
#define BLOCK 1000
#define HELD (2 << 20)

static pthread_barrier_t go, done;

static void *worker(void *arg) {
    (void)arg;
    void **blocks = malloc(sizeof(void *) * (HELD / BLOCK));
    pthread_barrier_wait(&go);
    for (int i = 0; i < HELD / BLOCK; i++) {
        blocks[i] = malloc(BLOCK);
        memset(blocks[i], i, 8);
    }
    pthread_barrier_wait(&done);
    /* Held until the process ends. */
    pause();
    return blocks;
}

int main(void) {
    pthread_t t[THREADS];
    pthread_barrier_init(&go, 0, THREADS);
    pthread_barrier_init(&done, 0, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&t[i], 0, worker, 0) != 0) {
            return 1;
        }
    }
    pthread_barrier_wait(&done);
    if (write(1, "ready\n", 6) != 6) {
        return 1;
    }
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}
