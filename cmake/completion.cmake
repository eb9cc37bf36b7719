# cmake -DEXE=fedalign -DOUT=FILE -P completion.cmake: writes `fedalign completion bash`.
# Leak checking is off for the sanitizer build: MPI_Init's own allocations would fail it.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND "${EXE}" completion bash OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} completion bash failed (${rc})")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
