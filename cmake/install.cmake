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
# dependencies, so only the four libraries join the export set.
install(TARGETS tessera tessera_static tessera_inference tessera_inference_static
  EXPORT TesseraTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime
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

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TesseraConfig.cmake.in
  ${PROJECT_BINARY_DIR}/TesseraConfig.cmake
  INSTALL_DESTINATION ${TESSERA_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/TesseraConfig.cmake ${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR} COMPONENT Development)
