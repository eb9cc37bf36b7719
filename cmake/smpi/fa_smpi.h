/*
 * Forced into every file of the SMPI build after SimGrid's smpi_helpers.h (which smpicc
 * forces in first). That header maps exit() to smpi_exit(), declared without noreturn in
 * C (its C++ declaration has [[noreturn]]; it never returns), so each FA_NORETURN
 * function would warn that it returns. Declaring the attribute here keeps the build free
 * of warnings without touching the callers.
 */
#ifndef FEDALIGN_FA_SMPI_H
#define FEDALIGN_FA_SMPI_H

#include <smpi/smpi_helpers_internal.h>

__attribute__((noreturn)) void smpi_exit(int status);

#endif
