# cmake -DLAYER=<target> -DSOURCE_DIR=<src> -DFILES=<a.cc,b.h,...> -DSTAMP=<file> -P check_layer_includes.cmake
#
# Every quoted include of a layer's files must name its header as
# "folder/file": never by a bare name, found next to the including file
# before the layer's view is searched, nor with "..", which walks out of the
# view (JobgateLayers.cmake). Touches STAMP when all pass.
string(REPLACE "," ";" files "${FILES}")
set(bad "")
foreach(rel IN LISTS files)
  file(STRINGS "${SOURCE_DIR}/${rel}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX MATCH "\"([^\"]*)\"" quoted "${line}")
    set(header "${CMAKE_MATCH_1}")
    if(NOT header MATCHES "^[A-Za-z0-9_]+/[A-Za-z0-9_.-]+$" OR header MATCHES "\\.\\.")
      string(APPEND bad "\n  src/${rel}: #include \"${header}\"")
    endif()
  endforeach()
endforeach()
if(bad)
  file(REMOVE "${STAMP}")
  message(FATAL_ERROR "${LAYER}: name project headers \"folder/file.h\" (the layer's view decides "
                      "which it may use; docs/design.md, \"Layers\"):${bad}")
endif()
file(TOUCH "${STAMP}")
