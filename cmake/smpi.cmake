# SimGrid SMPI build (-DFEDALIGN_ENABLE_SMPI=ON, docs/scaling.md "Simulated cluster"):
# fedalign compiled with smpicc runs unmodified under smpirun on a simulated platform.
# Included twice from CMakeLists.txt: before project() to choose the compiler (CMake
# fixes it there), and after the library target to change what it builds and links.
if(NOT FA_SMPI_STAGE STREQUAL "target")
  find_program(FA_SMPICC smpicc)
  if(NOT FA_SMPICC)
    message(FATAL_ERROR "FEDALIGN_ENABLE_SMPI needs SimGrid's smpicc: apt-get install libsimgrid-dev")
  endif()
  set(CMAKE_C_COMPILER ${FA_SMPICC} CACHE FILEPATH "C compiler (SMPI build)" FORCE)
  return()
endif()

# Parallel HDF5 links Open MPI's libmpi, which cannot share a process with SMPI: the
# store API comes from src/store_smpi.c (no results file, no checkpoints, no resume).
list(FILTER FA_SOURCES EXCLUDE REGEX "/src/store[^/]*\\.c$")
list(APPEND FA_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/store_smpi.c)
# No OpenMP: every simulated rank runs in the one OS thread of the simulator, so libgomp
# state would be shared between ranks (phase-2 checksums then differ between identical
# runs). cmake/smpi/omp.h stands in for <omp.h>: one thread, pragmas ignored; ignoring them
# is meant, and so are the parameters and variables only their clauses use
# (num_threads(threads)), hence the -Wno-* below.
# SMPI_NO_OVERRIDE_MALLOC: smpicc forces smpi_helpers.h, which would otherwise turn
# malloc/calloc/realloc/free into SMPI's shared-malloc macros; cmake/smpi/fa_smpi.h
# marks smpi_exit (what exit() becomes there) noreturn.
set(FA_SMPI_FLAGS -DSMPI_NO_OVERRIDE_MALLOC -DFEDALIGN_SMPI=1 -Wno-unknown-pragmas -Wno-unused-parameter
    -Wno-unused-variable
    -include ${CMAKE_CURRENT_SOURCE_DIR}/cmake/smpi/fa_smpi.h)
