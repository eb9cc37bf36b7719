/* driver_host.c: the host platform of export_driver.c (stdio). */
#include <stdio.h>
#include <stdlib.h>

void fa_out(const char *s);
void fa_exit(int code);

void fa_out(const char *s) { fputs(s, stdout); }
void fa_exit(int code) {
    fflush(stdout);
    exit(code);
}
