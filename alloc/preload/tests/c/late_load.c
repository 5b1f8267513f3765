/* Loads the preload library with dlopen after start-up (argv[1]), as a program that
 * links a library with slabscope inside late would: glibc must find room for the
 * library's initial-exec TLS block in its static TLS surplus. Then allocates and frees
 * through the loaded library's own malloc and free. Prints "loaded" and exits 0, or
 * prints the loader's error and exits 1. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: late_load LIBRARY\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("%s\n", dlerror());
        return 1;
    }
    void *(*lib_malloc)(size_t) = (void *(*)(size_t))dlsym(h, "malloc");
    void (*lib_free)(void *) = (void (*)(void *))dlsym(h, "free");
    if (!lib_malloc || !lib_free) {
        printf("no malloc or free in the library\n");
        return 1;
    }
    for (int i = 0; i < 1000; i++) {
        char *p = lib_malloc(16 + i);
        if (!p) {
            printf("malloc failed\n");
            return 1;
        }
        memset(p, 1, 16 + i);
        lib_free(p);
    }
    printf("loaded\n");
    return 0;
}
