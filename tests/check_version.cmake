# check_version.cmake: the version macros of api/birch.h must match the
# project version in CMakeLists.txt, which names the library files, birch.pc
# and birchConfigVersion.cmake.
#
#   cmake -DHEADER=api/birch.h -DVERSION=0.1.0 -P check_version.cmake
cmake_minimum_required(VERSION 3.25)
file(READ "${HEADER}" text)
foreach(part MAJOR MINOR PATCH STRING)
    if(NOT text MATCHES "#define BIRCH_VERSION_${part} +([^\n]*)\n")
        message(FATAL_ERROR "${HEADER} does not define BIRCH_VERSION_${part}")
    endif()
    string(STRIP "${CMAKE_MATCH_1}" h_${part})
endforeach()
if(NOT VERSION MATCHES "^([0-9]+)\\.([0-9]+)\\.([0-9]+)$")
    message(FATAL_ERROR "project version '${VERSION}' is not MAJOR.MINOR.PATCH")
endif()
set(want "${CMAKE_MATCH_1} ${CMAKE_MATCH_2} ${CMAKE_MATCH_3} \"${VERSION}\"")
set(got "${h_MAJOR} ${h_MINOR} ${h_PATCH} ${h_STRING}")
if(NOT got STREQUAL want)
    message(FATAL_ERROR "birch.h says ${got} (MAJOR MINOR PATCH STRING), "
        "CMakeLists.txt project(VERSION ${VERSION}): change both together")
endif()
message(STATUS "birch.h and CMakeLists.txt agree: ${VERSION}")
