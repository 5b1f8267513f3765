/* Times a short program under several settings, one run of each in turn, and prints for
 * each setting its median run and its time over the first setting's: the benchmark of
 * alloc/bench/startup.sh.
 *
 *   alternate RUNS BLOCK SETTING... -- PROGRAM [ARGS...]
 *
 * A SETTING is a name, then the environment assignments it makes, separated by spaces
 * ("mimalloc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0"; a name alone
 * changes nothing). Each of RUNS rounds forks and execs PROGRAM once under every setting,
 * in order, and times fork, exec, the run and the wait. The ratio is the median, over
 * blocks of BLOCK rounds, of a setting's mean run in the block over the first setting's:
 * runs side by side share the machine's state of the moment, so that a machine whose
 * speed drifts (a shared or virtual one) moves both sides of a ratio alike.
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
#define MAX_WORDS 32

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

static void usage(void) {
    fprintf(stderr, "usage: alternate RUNS BLOCK SETTING... -- PROGRAM [ARGS...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 6)
        usage();
    int runs = atoi(argv[1]), block = atoi(argv[2]);
    int k = 0, sep = 3;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    k = sep - 3;
    if (runs < 1 || block < 1 || block > runs || k < 1 || k > MAX_SETTINGS || sep + 1 >= argc)
        usage();
    char **prog = argv + sep + 1;
    /* Each setting split into its name and its assignments. */
    char *words[MAX_SETTINGS][MAX_WORDS + 1];
    int nwords[MAX_SETTINGS];
    for (int j = 0; j < k; j++) {
        int n = 0;
        for (char *w = strtok(strdup(argv[3 + j]), " "); w; w = strtok(NULL, " ")) {
            if (n == MAX_WORDS || (n > 0 && !strchr(w, '='))) {
                fprintf(stderr, "alternate: bad setting '%s'\n", argv[3 + j]);
                return 2;
            }
            words[j][n++] = w;
        }
        if (n == 0)
            usage();
        nwords[j] = n;
    }
    double *t = malloc(sizeof(double) * runs * k);
    if (!t)
        return 1;
    for (int r = 0; r < runs; r++) {
        for (int j = 0; j < k; j++) {
            double start = now_us();
            pid_t p = fork();
            if (p == 0) {
                for (int w = 1; w < nwords[j]; w++)
                    putenv(words[j][w]);
                execvp(prog[0], prog);
                _exit(127);
            }
            int st;
            if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "alternate: %s failed under '%s'\n", prog[0], argv[3 + j]);
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
            double mine = 0, first = 0;
            for (int r = b * block; r < (b + 1) * block; r++) {
                mine += t[r * k + j];
                first += t[r * k];
            }
            ratio[b] = mine / first;
        }
        printf("%s %.1f %.4f\n", words[j][0], median(v, runs), median(ratio, blocks));
    }
    return 0;
}
