/* Edge cases of the C allocation API, run under the preload by tests/edge.rs.
 * Prints "ok <name>" per passed check and "FAIL <name>: ..." otherwise; exits 0.
 *   edge            all checks, then re-executes itself as "edge after-exec"
 *   edge after-exec allocation in the new image of the same pid                   */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The misuse below is deliberate (and compiled with -fno-builtin so that it happens). */
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

extern void *__libc_malloc(size_t);

static int failures;
#define CHECK(name, cond, ...)                                   \
    do {                                                         \
        if (cond) {                                              \
            printf("ok %s\n", name);                             \
        } else {                                                 \
            failures++;                                          \
            printf("FAIL %s: ", name);                           \
            printf(__VA_ARGS__);                                 \
            printf("\n");                                        \
        }                                                        \
        fflush(stdout);                                          \
    } while (0)

static int aligned(void *p, size_t a) { return p && ((uintptr_t)p % a) == 0; }

static int segment_exists(void) {
    char path[512];
    const char *dir = getenv("SLABSCOPE_SHM_DIR");
    snprintf(path, sizeof path, "%s/slabscope.%d", dir ? dir : "/dev/shm", (int)getpid());
    return access(path, F_OK) == 0;
}

/* Enough distinct allocations to force slow paths (refills: the segment is created). */
static int churn(unsigned seed) {
    void *ps[2000];
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (seed * 2654435761u + i * 40503u) % 3000;
        ps[i] = malloc(n);
        if (!ps[i]) return 1;
        memset(ps[i], (int)(i & 0xff), n);
    }
    for (int i = 0; i < 2000; i++) {
        if (((unsigned char *)ps[i])[0] != (i & 0xff)) bad = 1;
        free(ps[i]);
    }
    return bad;
}

static void check_alignment(void) {
    int bad = 0;
    for (size_t n = 0; n < 5000; n += 7) {
        void *p = malloc(n), *q = calloc(1, n), *r = realloc(NULL, n);
        if (!aligned(p, 16) || !aligned(q, 16) || !aligned(r, 16)) bad++;
        free(p); free(q); free(r);
    }
    CHECK("align_malloc_calloc_realloc", bad == 0, "%d misaligned", bad);
    bad = 0;
    for (size_t a = 1; a <= (1u << 22); a <<= 1) {
        for (size_t n = 1; n < 70000; n = n * 3 + 1) {
            void *m = memalign(a, n), *al = aligned_alloc(a, n), *pm = NULL;
            int rc = posix_memalign(&pm, a < sizeof(void *) ? sizeof(void *) : a, n);
            if (!aligned(m, a) || !aligned(al, a) || rc || !aligned(pm, a)) bad++;
            if (malloc_usable_size(m) < n || malloc_usable_size(pm) < n) bad++;
            memset(m, 1, n); memset(al, 2, n); memset(pm, 3, n);
            free(m); free(al); free(pm);
        }
    }
    CHECK("align_memalign_aligned_alloc_posix_memalign", bad == 0, "%d bad", bad);
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10), *pv = pvalloc(page + 1), *pv0 = pvalloc(0);
    CHECK("align_valloc_pvalloc",
          aligned(v, page) && aligned(pv, page) && malloc_usable_size(pv) >= 2 * (size_t)page &&
              aligned(pv0, page),
          "%p %p %p", v, pv, pv0);
    free(v); free(pv); free(pv0);
    void *m48 = memalign(48, 100);
    CHECK("memalign_rounds_non_power_of_two", aligned(m48, 64), "%p", m48);
    free(m48);
    errno = 0;
    void *a3 = aligned_alloc(3, 10);
    CHECK("aligned_alloc_einval", a3 == NULL && errno == EINVAL, "%p errno %d", a3, errno);
}

static void check_sizes(void) {
    void *a = malloc(0), *b = malloc(0);
    CHECK("malloc0_unique", a && b && a != b, "%p %p", a, b);
    free(a); free(b);
    size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX, (size_t)1 << 60};
    for (int i = 0; i < 4; i++) {
        errno = 0;
        void *p = malloc(huge[i]);
        CHECK("malloc_huge_enomem", p == NULL && errno == ENOMEM, "size %zu: %p errno %d", huge[i], p, errno);
    }
    errno = 0;
    void *c = calloc(SIZE_MAX / 2, 3);
    CHECK("calloc_overflow_enomem", c == NULL && errno == ENOMEM, "%p errno %d", c, errno);
    errno = 0;
    c = calloc((size_t)1 << 33, (size_t)1 << 33);
    CHECK("calloc_overflow2_enomem", c == NULL && errno == ENOMEM, "%p errno %d", c, errno);
    int bad = 0;
    for (size_t n = 1; n < 300000; n = n * 5 / 4 + 1) {
        unsigned char *p = malloc(n);
        size_t u = malloc_usable_size(p);
        if (u < n) bad++;
        memset(p, 0xAB, u); /* the whole usable size is ours to write */
        free(p);
        unsigned char *z = calloc(n, 1);
        for (size_t i = 0; i < n; i += 61) bad += z[i] != 0;
        bad += z[n - 1] != 0;
        free(z);
    }
    CHECK("usable_size_and_calloc_zero", bad == 0, "%d bad", bad);
    CHECK("usable_size_null", malloc_usable_size(NULL) == 0, "nonzero");
}

static void check_realloc(void) {
    char *p = realloc(NULL, 10);
    strcpy(p, "123456789");
    int bad = 0;
    for (size_t n = 16; n < (1u << 22); n *= 3) { /* grow through small, medium, large */
        p = realloc(p, n);
        if (!p || memcmp(p, "123456789", 10)) bad++;
        memset(p + 10, 'x', n - 10);
    }
    p = realloc(p, 12); /* shrink from a large mapping */
    bad += memcmp(p, "123456789", 10) != 0;
    CHECK("realloc_grow_shrink_keeps_content", bad == 0, "%d bad", bad);
    errno = 0;
    char *q = realloc(p, SIZE_MAX - 100);
    CHECK("realloc_huge_keeps_block", q == NULL && errno == ENOMEM && !memcmp(p, "123456789", 10),
          "%p errno %d", q, errno);
    errno = 0;
    q = reallocarray(p, SIZE_MAX / 4, 8);
    CHECK("reallocarray_overflow", q == NULL && errno == ENOMEM && !memcmp(p, "123456789", 10),
          "%p errno %d", q, errno);
    q = reallocarray(p, 100, 8);
    CHECK("reallocarray", q && !memcmp(q, "123456789", 10) && malloc_usable_size(q) >= 800, "%p", q);
    errno = 0;
    void *z = realloc(q, 0);
    CHECK("realloc_zero_frees_returns_null", z == NULL && errno == 0, "%p errno %d", z, errno);
    /* cfree is only a compatibility symbol in glibc: look it up. */
    void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    void *c = malloc(40);
    if (cfree_fn) cfree_fn(c);
    CHECK("cfree", c != NULL && cfree_fn != NULL, "cfree %p", (void *)cfree_fn);
}

static void check_posix_memalign(void) {
    void *p = (void *)0x1234;
    size_t bad_aligns[] = {0, 1, 3, 4, 12, 24, 48};
    int bad = 0;
    for (int i = 0; i < 7; i++) {
        errno = 77;
        int rc = posix_memalign(&p, bad_aligns[i], 16);
        if (rc != EINVAL || p != (void *)0x1234 || errno != 77) bad++;
    }
    CHECK("posix_memalign_einval", bad == 0, "%d bad", bad);
    errno = 77;
    int rc = posix_memalign(&p, 64, SIZE_MAX - 64);
    CHECK("posix_memalign_enomem", rc == ENOMEM && p == (void *)0x1234 && errno == 77,
          "rc %d p %p errno %d", rc, p, errno);
    rc = posix_memalign(&p, 8, 0);
    CHECK("posix_memalign_zero", rc == 0 && p != NULL && aligned(p, 8), "rc %d", rc);
    free(p);
}

static void check_info(void) {
    void *keep[100];
    for (int i = 0; i < 100; i++) keep[i] = malloc(1000);
    struct mallinfo2 mi = mallinfo2();
    CHECK("mallinfo2", mi.arena > 0 && mi.uordblks > 0 && mi.uordblks <= mi.arena &&
                           mi.fordblks == mi.arena - mi.uordblks,
          "arena %zu uordblks %zu fordblks %zu", mi.arena, mi.uordblks, mi.fordblks);
    for (int i = 0; i < 100; i++) free(keep[i]);
    int t = malloc_trim(0);
    CHECK("malloc_trim", t == 0 || t == 1, "%d", t);
    CHECK("mallopt", mallopt(M_ARENA_MAX, 2) == 1 && mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1 &&
                         mallopt(M_PERTURB, 0x55) == 0 && mallopt(12345, 1) == 0,
          "unexpected answers");
}

static char static_block[64] __attribute__((aligned(16))) = "static foreign block";

/* free() of a SuperSlab header address or of a pointer inside a block changes nothing:
 * the block keeps its bytes, and no later allocation returns header memory or the
 * interior pointer. */
static void *invalid_keep[20000];
static void check_invalid_frees(void) {
    unsigned char *p = malloc(64);
    memset(p, 0x5a, 64);
    uintptr_t ss = (uintptr_t)2 << 20;
    uintptr_t base = (uintptr_t)p & ~(ss - 1);
    free((void *)base);
    free((void *)(base + 256));
    free((void *)(base + 4096));
    free((void *)(base + 8000));
    free(p + 8);
    int bad = 0;
    for (int i = 0; i < 64; i++) bad += p[i] != 0x5a;
    bad += malloc_usable_size((void *)base) != 0;
    bad += malloc_usable_size(p + 8) != 0;
    for (int i = 0; i < 20000; i++) {
        invalid_keep[i] = malloc(16 + (size_t)(i % 64) * 16);
        uintptr_t q = (uintptr_t)invalid_keep[i];
        bad += (q & (ss - 1)) < 8192 || q == (uintptr_t)(p + 8);
    }
    for (int i = 0; i < 20000; i++) free(invalid_keep[i]);
    free(p);
    /* A pointer inside a large allocation: refused, the allocation kept whole. */
    unsigned char *big = malloc(300000);
    memset(big, 0x6b, 300000);
    free(big + 8);
    free(big + 4096);
    for (int i = 0; i < 300000; i += 997) bad += big[i] != 0x6b;
    bad += malloc_usable_size(big) < 300000;
    free(big);
    CHECK("header_and_interior_frees_change_nothing", bad == 0, "%d bad", bad);
}

static void check_foreign(void) {
    char stack_block[32] __attribute__((aligned(16))) = "on the stack";
    free(static_block);
    free(stack_block);
    CHECK("foreign_free_ignored", !strcmp(static_block, "static foreign block") &&
                                      !strcmp(stack_block, "on the stack"),
          "foreign memory changed");
    CHECK("foreign_usable_size_zero", malloc_usable_size(static_block) == 0, "nonzero");
    char *g = __libc_malloc(100);
    strcpy(g, "from glibc");
    char *r = realloc(g, 5000);
    CHECK("foreign_realloc_copies", r && r != g && !strcmp(r, "from glibc") &&
                                        !strcmp(g, "from glibc") && malloc_usable_size(r) >= 5000,
          "%p", r);
    free(r);
    free(g);
}

/* pthread key destructors run during thread exit, after libc's own TLS teardown
 * started: allocation and free must still work there. */
static pthread_key_t key;
static void key_dtor(void *v) {
    void *p = malloc(100);
    memset(p, 1, 100);
    free(p);
    free(v);
}
static void *exiting_thread(void *arg) {
    (void)arg;
    pthread_setspecific(key, malloc(5000));
    return (void *)(uintptr_t)churn(7);
}

/* fork from a multi-threaded program while other threads allocate. */
static volatile int stop_spinners;
static void *spinner(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    while (!stop_spinners) {
        void *p = malloc(1 + s++ % 5000);
        free(p);
    }
    return NULL;
}

static void check_fork(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, spinner, (void *)(uintptr_t)i);
    int bad = 0, child_ok = 0;
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            int e = churn(round);
            pthread_t c;
            pthread_create(&c, NULL, exiting_thread, NULL);
            void *r;
            pthread_join(c, &r);
            e |= (int)(uintptr_t)r;
            exit(e ? 2 : segment_exists() ? 0 : 3);
        }
        bad += churn(round + 100);
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) child_ok++;
        else printf("child status %d\n", st);
    }
    stop_spinners = 1;
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK("fork_threaded_parent_and_child_allocate", bad == 0 && child_ok == 20,
          "parent bad %d, children ok %d/20", bad, child_ok);
}

/* 8 threads: each allocates blocks, the next one verifies and frees them. */
#define T 8
#define N 4000
static unsigned char *blocks[T][N];
static size_t sizes[T][N];
static pthread_barrier_t barrier;
static int cross_bad;
static void *cross(void *arg) {
    int me = (int)(uintptr_t)arg;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 1 + ((unsigned)(me * 7919 + i * 104729 + round) % 9000);
            if (i % 500 == 0) n = 100000 + i; /* some large ones */
            blocks[me][i] = malloc(n);
            sizes[me][i] = n;
            memset(blocks[me][i], (me * 31 + i) & 0xff, n);
        }
        pthread_barrier_wait(&barrier);
        int from = (me + 1) % T;
        for (int i = 0; i < N; i++) {
            unsigned char *p = blocks[from][i];
            unsigned char want = (from * 31 + i) & 0xff;
            if (p[0] != want || p[sizes[from][i] - 1] != want) __atomic_add_fetch(&cross_bad, 1, __ATOMIC_RELAXED);
            free(p);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static void check_threads(void) {
    pthread_key_create(&key, key_dtor);
    pthread_t t[T];
    for (int round = 0; round < 5; round++) {
        pthread_create(&t[0], NULL, exiting_thread, NULL);
        void *r;
        pthread_join(t[0], &r);
        if (r) cross_bad++;
    }
    CHECK("thread_exit_destructors_allocate", cross_bad == 0, "%d", cross_bad);
    pthread_barrier_init(&barrier, NULL, T);
    for (int i = 0; i < T; i++) pthread_create(&t[i], NULL, cross, (void *)(uintptr_t)i);
    for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
    CHECK("eight_threads_cross_thread_free", cross_bad == 0, "%d corrupt", cross_bad);
}

static void check_dlopen(void) {
    /* A library loaded later, with its own thread-local storage, used from threads. */
    void *h = dlopen(getenv("EDGE_TLS_LIB"), RTLD_NOW);
    if (!h) {
        CHECK("dlopen_tls_library", 0, "%s", dlerror());
        return;
    }
    void *(*touch)(void) = (void *(*)(void))dlsym(h, "touch_tls");
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, (void *(*)(void *))touch, NULL);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += r == NULL;
        free(r);
    }
    CHECK("dlopen_tls_library", bad == 0 && dlclose(h) == 0, "%d", bad);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "after-exec")) {
        int bad = churn(3);
        CHECK("exec_same_pid_publishes", bad == 0 && segment_exists(), "bad %d, segment %d", bad,
              segment_exists());
        return 0;
    }
    Dl_info info;
    CHECK("malloc_is_preloaded", dladdr((void *)malloc, &info) && strstr(info.dli_fname, "slabscope_preload"),
          "malloc comes from %s", info.dli_fname);
    check_alignment();
    check_sizes();
    check_realloc();
    check_posix_memalign();
    check_info();
    check_foreign();
    check_invalid_frees();
    check_threads();
    check_fork();
    check_dlopen();
    CHECK("segment_exists", segment_exists(), "no segment for pid %d", (int)getpid());
    printf("failures %d\n", failures);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "after-exec", (char *)NULL);
    printf("FAIL exec: %s\n", strerror(errno));
    return 1;
}
