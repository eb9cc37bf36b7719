# cmake -DEXE=fedalign -DHELP2MAN=help2man -DOUT=fedalign.1 -P manpage.cmake
# The man page is help2man's reading of `fedalign --help` and `--version`, plus one section
# per command with its own --help (export, bench, completion), so it lists what the option
# tables list and nothing kept by hand.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
set(inc "${OUT}.h2m")
file(WRITE "${inc}" "[DESCRIPTION]\nAn MPI + OpenMP + parallel HDF5 benchmark suite for federated learning of TinyML fault\nclassifiers: the Fed-Meta-Align pipeline (arXiv 2508.11794) and its baselines.\n")
foreach(cmd export bench completion)
  execute_process(COMMAND "${EXE}" ${cmd} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} ${cmd} --help failed (${rc})")
  endif()
  # roff: a backslash is \e; a line starting with . or ' would be a request
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  string(TOUPPER "${cmd}" up)
  file(APPEND "${inc}" "[${up} COMMAND]\n.nf\n${text}.fi\n")
endforeach()
file(APPEND "${inc}" "[SEE ALSO]\nThe documentation in share/doc/fedalign and the repository's docs/ directory.\n")
execute_process(COMMAND "${HELP2MAN}" --no-info --no-discard-stderr
  --name "federated TinyML benchmark suite (Fed-Meta-Align and baselines)"
  --section 1 --include "${inc}" --output "${OUT}.tmp" "${EXE}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
