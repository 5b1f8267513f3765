/* Times a short program under several settings, one run of each in turn, and prints for
 * each setting its median run and its time over the first setting's: the benchmark of
 * alloc/bench/startup.sh.
 *
 *   alternate RUNS BLOCK SETTING [+ SETTING]... -- PROGRAM [ARGS...]
 *
 * A SETTING is a name, then the environment assignments it makes, each its own
 * argument ("mimalloc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0"; a name
 * alone changes nothing); a lone "+" separates two settings. Each of RUNS rounds forks
 * and execs PROGRAM once under every setting, in the order of a row of a Williams design
 * (round r takes row r mod K, or r mod 2K for an odd K), and times fork, exec, the run
 * and the wait. Over a whole number of rows every setting runs right after every other
 * one equally often: a run leaves the kernel's caches warm or cold for the next (a
 * segment file's directory, freed pages), so a fixed order, or a rotation of one, would
 * give each setting the same neighbour every time and move its time by a few per cent.
 * The ratio is the median, over blocks of BLOCK rounds (at most RUNS), of a setting's
 * mean run in the block over the first setting's: runs side by side share the
 * machine's state of the moment, so that a machine whose speed drifts (a shared or
 * virtual one) moves both sides of a ratio alike.
 *
 * Output, one line a setting: NAME MEDIAN_US RATIO. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SETTINGS 16

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Position i of row r of a Williams design for k settings: row 0 is 0, 1, k-1, 2, k-2,
 * ...; row r adds r to each (mod k); for an odd k rows k to 2k-1 are rows 0 to k-1
 * reversed. */
static int williams(int r, int i, int k) {
    int row = r % (k % 2 ? 2 * k : k);
    int pos = row < k ? i : k - 1 - i;
    int s = pos == 0 ? 0 : pos % 2 ? (pos + 1) / 2 : k - pos / 2;
    return (s + row) % k;
}

static void usage(void) {
    fprintf(stderr, "usage: alternate RUNS BLOCK SETTING [+ SETTING]... -- PROGRAM [ARGS...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 6)
        usage();
    int runs = atoi(argv[1]), block = atoi(argv[2]);
    if (runs < 1 || block < 1)
        usage();
    if (block > runs)
        block = runs;
    /* Each setting: its first argument (the name) and how many follow it. */
    int first[MAX_SETTINGS], count[MAX_SETTINGS], k = 0, a = 3;
    while (a < argc && strcmp(argv[a], "--") != 0) {
        if (k == MAX_SETTINGS)
            usage();
        first[k] = a;
        while (a < argc && strcmp(argv[a], "--") != 0 && strcmp(argv[a], "+") != 0) {
            if (a > first[k] && !strchr(argv[a], '=')) {
                fprintf(stderr, "alternate: '%s' is not an assignment\n", argv[a]);
                return 2;
            }
            a++;
        }
        count[k] = a - first[k];
        if (count[k] == 0)
            usage();
        k++;
        if (a < argc && strcmp(argv[a], "+") == 0)
            a++;
    }
    if (k == 0 || a + 1 >= argc)
        usage();
    char **prog = argv + a + 1;
    double *t = malloc(sizeof(double) * runs * k);
    if (!t)
        return 1;
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < k; i++) {
            int j = williams(r, i, k);
            double start = now_us();
            pid_t p = fork();
            if (p == 0) {
                for (int w = 1; w < count[j]; w++)
                    putenv(argv[first[j] + w]);
                execvp(prog[0], prog);
                _exit(127);
            }
            int st;
            if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "alternate: %s failed under '%s'\n", prog[0], argv[first[j]]);
                return 1;
            }
            t[r * k + j] = now_us() - start;
        }
    }
    int blocks = runs / block;
    double *v = malloc(sizeof(double) * runs), *ratio = malloc(sizeof(double) * blocks);
    if (!v || !ratio)
        return 1;
    for (int j = 0; j < k; j++) {
        for (int r = 0; r < runs; r++)
            v[r] = t[r * k + j];
        for (int b = 0; b < blocks; b++) {
            double mine = 0, ref = 0;
            for (int r = b * block; r < (b + 1) * block; r++) {
                mine += t[r * k + j];
                ref += t[r * k];
            }
            ratio[b] = mine / ref;
        }
        printf("%s %.1f %.4f\n", argv[first[j]], median(v, runs), median(ratio, blocks));
    }
    return 0;
}
