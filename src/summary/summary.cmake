# The summary module's protobuf records (src/summary/proto/*.proto), compiled with protoc at
# build time into the library's objects. Included from the top CMakeLists once the object
# library named by TESSERA_SUMMARY_TARGET (default tessera_objects: the one holding
# src/summary/*.cc) exists; that target must also link PNG::PNG and
# protobuf::libprotobuf-lite.
#
# The generated classes (namespace tessera::tb, lite runtime) are hidden like the rest of
# the library, and their headers are found only by the library's own sources: nothing of
# protobuf reaches Tessera's public headers or exported symbols.
if(NOT TESSERA_SUMMARY_TARGET)
  set(TESSERA_SUMMARY_TARGET tessera_objects)
endif()
set(TESSERA_PROTO_OUT ${CMAKE_CURRENT_BINARY_DIR}/generated)
file(MAKE_DIRECTORY ${TESSERA_PROTO_OUT}/summary/proto)
set(TESSERA_PROTO_SOURCES "")
foreach(name tensorboard hparams)
  set(proto ${CMAKE_CURRENT_SOURCE_DIR}/src/summary/proto/${name}.proto)
  set(out ${TESSERA_PROTO_OUT}/summary/proto/${name}.pb)
  add_custom_command(
    OUTPUT ${out}.cc ${out}.h
    COMMAND protobuf::protoc --cpp_out=${TESSERA_PROTO_OUT} -I ${CMAKE_CURRENT_SOURCE_DIR}/src ${proto}
    DEPENDS ${proto} protobuf::protoc
    COMMENT "protoc ${name}.proto"
    VERBATIM)
  list(APPEND TESSERA_PROTO_SOURCES ${out}.cc)
endforeach()
target_sources(${TESSERA_SUMMARY_TARGET} PRIVATE ${TESSERA_PROTO_SOURCES})
# SYSTEM: protoc's code is not held to Tessera's warning flags.
target_include_directories(${TESSERA_SUMMARY_TARGET} SYSTEM PRIVATE ${TESSERA_PROTO_OUT})
set_source_files_properties(${TESSERA_PROTO_SOURCES} PROPERTIES COMPILE_OPTIONS "-w")
