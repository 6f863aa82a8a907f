# Installation and the exported CMake package, included at the end of the top CMakeLists.
#
#   cmake --install build/release --prefix /opt/tessera
#
# gives an outside project
#
#   find_package(Tessera REQUIRED)
#   target_link_libraries(app PRIVATE Tessera::tessera)         # shared
#   target_link_libraries(app PRIVATE Tessera::tessera_static)  # static
#   target_link_libraries(app PRIVATE Tessera::tessera_inference)  # inference only (shared;
#                                        # tessera_inference_static: static), no autograd/training
#
# The shared library keeps oneDNN and OpenMP private (hidden symbols); the static one
# passes them on, so TesseraConfig.cmake finds them again (find_dependency).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TESSERA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera
    CACHE STRING "Where TesseraConfig.cmake goes, relative to the install prefix")

# The layers' OBJECT libraries are linked in through $<TARGET_OBJECTS:...>, not as
# dependencies, so only the four libraries join the export sets. Two sets: the shared
# libraries (which keep their dependencies inside: a user needs none of their -dev
# packages) and the static ones (which pass them on), so the package asks for oneDNN,
# zlib, libpng, protobuf and Gloo only when the static libraries are wanted
# (TesseraConfig.cmake.in).
install(TARGETS tessera tessera_inference
  EXPORT TesseraTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime NAMELINK_COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS tessera_static tessera_inference_static
  EXPORT TesseraStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Public headers only: src/ holds the internal ones.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tessera
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/tessera/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tessera COMPONENT Development)

if(TARGET tessera_cli)
  # The installed command line finds the installed libtessera.so next door.
  set_target_properties(tessera_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  install(TARGETS tessera_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
endif()

install(EXPORT TesseraTargets
  NAMESPACE Tessera::
  FILE TesseraTargets.cmake
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR} COMPONENT Development)
install(EXPORT TesseraStaticTargets
  NAMESPACE Tessera::
  FILE TesseraStaticTargets.cmake
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR} COMPONENT Development)

# pkg-config files for builds without CMake: tessera.pc and tessera-inference.pc (shared;
# `pkg-config --static` adds what the static archives need).
# prefix= is found from the .pc file's own place, so the install can move.
file(RELATIVE_PATH TESSERA_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
set(TESSERA_PC_PRIVATE "-ldnnl")
if(TESSERA_OPENMP)
  string(APPEND TESSERA_PC_PRIVATE " -fopenmp")
endif()
foreach(pc tessera tessera-inference)
  if(pc STREQUAL "tessera")
    set(TESSERA_PC_NAME "Tessera")
    set(TESSERA_PC_LIB "tessera")
    set(TESSERA_PC_DESCRIPTION "Deep-learning framework in C++: tensors, autograd, graph mode, training")
    set(TESSERA_PC_LIBS_PRIVATE "${TESSERA_PC_PRIVATE} -lz -lpng16 -lprotobuf-lite -lgloo")
  else()
    set(TESSERA_PC_NAME "Tessera inference")
    set(TESSERA_PC_LIB "tessera_inference")
    set(TESSERA_PC_DESCRIPTION "Tessera's inference-only library: tensors, ops, compiled graphs, safetensors")
    set(TESSERA_PC_LIBS_PRIVATE "${TESSERA_PC_PRIVATE}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/tessera.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TesseraConfig.cmake.in
  ${PROJECT_BINARY_DIR}/TesseraConfig.cmake
  INSTALL_DESTINATION ${TESSERA_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/TesseraConfig.cmake ${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR} COMPONENT Development)
