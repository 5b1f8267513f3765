/* A shared library with thread-local storage, dlopen'ed by edge.c after threads exist. */
#include <stdlib.h>
#include <string.h>

static __thread char scratch[8192];

void *touch_tls(void) {
    memset(scratch, 7, sizeof scratch);
    char *p = malloc(sizeof scratch);
    if (p) memcpy(p, scratch, sizeof scratch);
    return p;
}
