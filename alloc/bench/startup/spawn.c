/* Runs a program N times, one after the other, and prints the mean wall time of one run
 * in microseconds: fork, exec, the run, wait. The benchmark of alloc/bench/startup.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn N PROGRAM [ARGS...]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    double start = now_us();
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "spawn: %s failed\n", argv[2]);
            return 1;
        }
    }
    printf("%.1f\n", (now_us() - start) / n);
    return 0;
}
