# The ONNX importer's protobuf messages (src/onnx/proto/onnx_subset.proto: the part of the
# ONNX IR it reads, in a private package), compiled with protoc at build time into the
# tessera_onnx layer's objects, as src/summary/summary.cmake does for TensorBoard's
# records. Lite runtime; hidden like the rest of the library: no protobuf class of ours is
# exported (tests: Packaging.no_protobuf_symbols_exported).
set(TESSERA_ONNX_PROTO_OUT ${CMAKE_CURRENT_BINARY_DIR}/generated)
file(MAKE_DIRECTORY ${TESSERA_ONNX_PROTO_OUT}/onnx/proto)
set(_proto ${CMAKE_CURRENT_SOURCE_DIR}/src/onnx/proto/onnx_subset.proto)
set(_out ${TESSERA_ONNX_PROTO_OUT}/onnx/proto/onnx_subset.pb)
add_custom_command(
  OUTPUT ${_out}.cc ${_out}.h
  COMMAND protobuf::protoc --cpp_out=${TESSERA_ONNX_PROTO_OUT} -I ${CMAKE_CURRENT_SOURCE_DIR}/src ${_proto}
  DEPENDS ${_proto} protobuf::protoc
  COMMENT "protoc onnx_subset.proto"
  VERBATIM)
target_sources(tessera_onnx PRIVATE ${_out}.cc)
# SYSTEM: protoc's code is not held to Tessera's warning flags.
target_include_directories(tessera_onnx SYSTEM PRIVATE ${TESSERA_ONNX_PROTO_OUT})
set_source_files_properties(${_out}.cc PROPERTIES COMPILE_OPTIONS "-w")
