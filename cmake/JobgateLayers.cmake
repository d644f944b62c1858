# Layers the build enforces (docs/design.md, "Layers").
#
# Every layer is one target, declared with jobgate_layer() after the layers
# it uses. Its sources include project headers as "folder/file.h", and the
# compiler finds them only in the layer's view: a directory
#
#   ${CMAKE_BINARY_DIR}/layers/<target>/<folder>/<file>.h -> src/<folder>/<file>.h
#
# holding a symbolic link to each header of the layer and of every layer it
# uses, directly or through another, and nothing else. The view is the
# target's only include directory into src/ (PRIVATE; nothing of src/ is
# propagated to other targets), so including a header of a layer that is not
# below it fails to compile: "fatal error: store/sqlite_store.h: No such file
# or directory". Links are per file, so two layers that share a folder (the
# store backends in src/store) cannot see each other's headers either. The
# public headers (include/jobgate) come with jobgate_api: a layer that does
# not use it (jobgate_util) cannot include them.
#
# Two holes of #include "..." would bypass the view: the directory of the
# including file is searched first ("sqlite_store.h" from src/store/), and
# "../store/sqlite_store.h" walks out of it. A build step checks every
# quoted include of the layer's files before they compile: it must be
# exactly "folder/file" (cmake/check_layer_includes.cmake).
#
# Because a layer may only use layers declared before it, the dependencies
# cannot form a cycle.

set(JOBGATE_LAYERS_DIR ${CMAKE_BINARY_DIR}/layers)
set(JOBGATE_LAYER_CHECK_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_layer_includes.cmake)

# jobgate_layer(<target> [EXECUTABLE]
#               SOURCES <file relative to src/>...
#               [USES <layer target>...]
#               [LINK <target_link_libraries arguments>...])
#
# A static library (an executable with EXECUTABLE) built from SOURCES, whose
# headers (.h) make up its part of the views. USES are layers declared
# before it: linked PUBLIC (their usage requirements, e.g. jobgate_api's
# include/, propagate along the edge) and visible in its view with all they
# use. LINK is passed to target_link_libraries as is (third-party
# libraries).
function(jobgate_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 L "EXECUTABLE" "" "SOURCES;USES;LINK")
  if(L_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "jobgate_layer(${name}): unexpected arguments ${L_UNPARSED_ARGUMENTS}")
  endif()

  set(sources "")
  set(headers "")
  foreach(rel IN LISTS L_SOURCES)
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/src/${rel})
      message(FATAL_ERROR "jobgate_layer(${name}): no file src/${rel}")
    endif()
    list(APPEND sources ${PROJECT_SOURCE_DIR}/src/${rel})
    if(rel MATCHES "\\.h$")
      list(APPEND headers ${rel})
    endif()
  endforeach()

  # What the layer sees: its headers, then those of every layer below it.
  set(view ${headers})
  get_property(declared GLOBAL PROPERTY JOBGATE_LAYER_NAMES)
  foreach(dep IN LISTS L_USES)
    if(NOT dep IN_LIST declared)
      message(FATAL_ERROR "jobgate_layer(${name}): '${dep}' is not a layer declared before it")
    endif()
    get_property(dep_view GLOBAL PROPERTY JOBGATE_LAYER_${dep})
    list(APPEND view ${dep_view})
  endforeach()
  list(REMOVE_DUPLICATES view)
  set_property(GLOBAL PROPERTY JOBGATE_LAYER_${name} ${view})
  set_property(GLOBAL APPEND PROPERTY JOBGATE_LAYER_NAMES ${name})

  set(view_dir ${JOBGATE_LAYERS_DIR}/${name})
  file(REMOVE_RECURSE ${view_dir})
  file(MAKE_DIRECTORY ${view_dir})
  foreach(rel IN LISTS view)
    get_filename_component(folder ${rel} DIRECTORY)
    file(MAKE_DIRECTORY ${view_dir}/${folder})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${rel} ${view_dir}/${rel} SYMBOLIC)
  endforeach()

  if(L_EXECUTABLE)
    add_executable(${name} ${sources})
  else()
    add_library(${name} STATIC ${sources})
  endif()
  target_include_directories(${name} PRIVATE ${view_dir})
  if(L_USES)
    target_link_libraries(${name} PUBLIC ${L_USES})
  endif()
  if(L_LINK)
    target_link_libraries(${name} ${L_LINK})
  endif()

  # The quoted includes of the layer's files, checked before they compile.
  set(stamp ${JOBGATE_LAYERS_DIR}/${name}.includes-checked)
  string(REPLACE ";" "," files "${L_SOURCES}")
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DLAYER=${name} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}/src -DFILES=${files}
            -DSTAMP=${stamp} -P ${JOBGATE_LAYER_CHECK_SCRIPT}
    DEPENDS ${sources} ${JOBGATE_LAYER_CHECK_SCRIPT}
    COMMENT "Checking the includes of ${name}"
    VERBATIM)
  add_custom_target(${name}_includes DEPENDS ${stamp})
  add_dependencies(${name} ${name}_includes)
endfunction()

# jobgate_layer_probe(<layer> <header>)
#
# A test that compiles `#include "<header>"` with <layer>'s include path and
# passes only if the compiler cannot find the header: the proof that the
# layer may not use it. The probe is a target outside `all`, built by the
# test; tests that run the build are serial.
function(jobgate_layer_probe layer header)
  get_property(uses TARGET ${layer} PROPERTY LINK_LIBRARIES)
  string(MAKE_C_IDENTIFIER "${layer}_may_not_include_${header}" id)
  set(probe_source ${JOBGATE_LAYERS_DIR}/probes/${id}.cc)
  file(WRITE ${probe_source} "// Compiled with ${layer}'s include path: must not compile.\n#include \"${header}\"\n")
  add_library(probe_${id} OBJECT EXCLUDE_FROM_ALL ${probe_source})
  target_include_directories(probe_${id} PRIVATE ${JOBGATE_LAYERS_DIR}/${layer})
  target_link_libraries(probe_${id} PRIVATE ${uses})
  string(REGEX REPLACE "([.+])" "\\\\\\1" header_re "${header}")
  add_test(NAME layers.${layer}.may_not_include.${header}
    COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target probe_${id})
  set_tests_properties(layers.${layer}.may_not_include.${header} PROPERTIES
    PASS_REGULAR_EXPRESSION "${header_re}: No such file or directory"
    RUN_SERIAL TRUE
    LABELS "unit;layers")
endfunction()
