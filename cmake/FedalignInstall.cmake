# cmake/FedalignInstall.cmake (included by the top-level CMakeLists.txt after the targets):
# what `cmake --install` puts under the prefix, and the generated man page and completion.
#
#   bin/fedalign
#   lib/libfedalign_core.a
#   include/fedalign/*.h           the public headers (every include/fedalign/ header but
#                                  *_internal.h; docs/architecture.md, "Installed API")
#   lib/cmake/fedalign/            fedalignConfig.cmake, its version file and the exported
#                                  target fedalign::fedalign_core
#   lib/pkgconfig/fedalign.pc      the same library for pkg-config users
#   share/man/man1/fedalign.1      help2man, from `fedalign --help` (when help2man is found)
#   share/bash-completion/completions/fedalign   from `fedalign completion bash`
#   share/doc/fedalign/            LICENSE, CITATION.cff, README.md
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/fedalign)

install(TARGETS fedalign RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS fedalign_core EXPORT fedalignTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Public = what a program linking fedalign_core includes; *_internal.h headers exist only so
# that unit tests can reach a module's kernels (gen_internal.h: the generators' physics)
file(GLOB FA_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/fedalign/*.h)
list(FILTER FA_PUBLIC_HEADERS EXCLUDE REGEX "_internal\\.h$")
install(FILES ${FA_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/fedalign)

install(EXPORT fedalignTargets NAMESPACE fedalign:: DESTINATION ${FA_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/fedalignConfig.cmake.in
  ${PROJECT_BINARY_DIR}/fedalignConfig.cmake INSTALL_DESTINATION ${FA_CMAKE_DIR})
# 0.x: a minor version may change the API
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fedalignConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/fedalignConfig.cmake
  ${PROJECT_BINARY_DIR}/fedalignConfigVersion.cmake DESTINATION ${FA_CMAKE_DIR})

# ---- fedalign.pc: the static library needs its dependencies' flags spelled out ----
set(FA_PC_CFLAGS "-D_POSIX_C_SOURCE=200809L -ffp-contract=off ${OpenMP_C_FLAGS}")
set(FA_PC_LIBS "-L\${libdir} -lfedalign_core")
foreach(dir ${MPI_C_INCLUDE_DIRS} ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
  string(APPEND FA_PC_CFLAGS " -I${dir}")
endforeach()
foreach(lib ${HDF5_C_LIBRARIES} ${HDF5_C_HL_LIBRARIES} ${MPI_C_LIBRARIES} ${CSV_LIBRARY})
  string(APPEND FA_PC_LIBS " ${lib}")
endforeach()
string(APPEND FA_PC_LIBS " ${OpenMP_C_FLAGS} -lm")
# no -march: the library carries its per-ISA kernels and chooses at run time (src/isa.c)
if(FEDALIGN_ENABLE_SANITIZERS)
  string(APPEND FA_PC_CFLAGS " -fsanitize=address,undefined -fno-omit-frame-pointer")
  string(APPEND FA_PC_LIBS " -fsanitize=address,undefined")
endif()
# relocatable: the prefix is found from where the .pc file lies (`cmake --install --prefix`
# chooses it after configure), ${pcfiledir} is known to pkg-config and pkgconf
file(RELATIVE_PATH FA_PC_UP /fa/${CMAKE_INSTALL_LIBDIR}/pkgconfig /fa)
string(REGEX REPLACE "/$" "" FA_PC_UP "${FA_PC_UP}")
set(FA_PC_PREFIX "\${pcfiledir}/${FA_PC_UP}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(FA_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/fedalign.pc.in ${PROJECT_BINARY_DIR}/fedalign.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/fedalign.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CITATION.cff
  ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- generated from the binary's own tables: completion always, man page with help2man ----
# (a cross build cannot run the binary: both are left out there)
if(NOT CMAKE_CROSSCOMPILING)
  set(FA_SHARE_DIR ${PROJECT_BINARY_DIR}/share)
  add_custom_command(OUTPUT ${FA_SHARE_DIR}/fedalign.bash
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:fedalign> -DOUT=${FA_SHARE_DIR}/fedalign.bash
            -P ${PROJECT_SOURCE_DIR}/cmake/completion.cmake
    DEPENDS fedalign ${PROJECT_SOURCE_DIR}/cmake/completion.cmake
    COMMENT "Generating the bash completion from the option tables")
  set(FA_DOC_OUTPUTS ${FA_SHARE_DIR}/fedalign.bash)
  install(FILES ${FA_SHARE_DIR}/fedalign.bash
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME fedalign)
  find_program(HELP2MAN_EXECUTABLE help2man)
  if(HELP2MAN_EXECUTABLE)
    add_custom_command(OUTPUT ${FA_SHARE_DIR}/fedalign.1
      COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:fedalign> -DHELP2MAN=${HELP2MAN_EXECUTABLE}
              -DOUT=${FA_SHARE_DIR}/fedalign.1 -P ${PROJECT_SOURCE_DIR}/cmake/manpage.cmake
      DEPENDS fedalign ${PROJECT_SOURCE_DIR}/cmake/manpage.cmake
      COMMENT "Generating the man page from fedalign --help (help2man)")
    list(APPEND FA_DOC_OUTPUTS ${FA_SHARE_DIR}/fedalign.1)
    install(FILES ${FA_SHARE_DIR}/fedalign.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  else()
    message(STATUS "help2man not found: no man page (apt-get install help2man)")
  endif()
  add_custom_target(fedalign_docs ALL DEPENDS ${FA_DOC_OUTPUTS})
endif()
