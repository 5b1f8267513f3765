/* A small C program: a few hundred allocations of mixed sizes, then exit. What every
 * short process under the preload costs (alloc/bench/startup.sh). */
#include <stdlib.h>
#include <string.h>

int main(void) {
    void *keep[256];
    for (int i = 0; i < 256; i++) {
        keep[i] = malloc(16 + (i * 37) % 2000);
        memset(keep[i], i, 16);
    }
    for (int i = 0; i < 256; i += 2) free(keep[i]);
    return 0;
}
