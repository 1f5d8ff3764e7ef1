# BirchFlatbuffers.cmake - C headers from FlatBuffers schemas at build time,
# with `birch fbs` (docs/guide/flatbuffers.md).  Included by birch's own
# build and by the installed birchConfig.cmake, so that a project using
# find_package(birch) writes:
#
#   birch_flatbuffers_generate(app schemas/inventory.fbs
#       INCLUDE_DIRS schemas/common        # -I for the schemas' includes
#       OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/fbs)   # optional
#   # app's sources: #include "inventory_birch.h"
#
# For each schema NAME.fbs, OUTPUT_DIR/NAME_birch.h is generated (again
# whenever the schema, a schema file it includes, however it names it, or
# the birch command changes: `birch fbs --depfile` lists the files flatc
# read, for CMake's DEPFILE), target depends on it, and OUTPUT_DIR (default:
# ${CMAKE_CURRENT_BINARY_DIR}/birch_fbs) is added to target's include
# directories.  Like flatbuffers_generate_headers, it needs Google's flatc
# (Debian: flatbuffers-compiler), which `birch fbs` runs; a missing flatc
# is an error here, at configure time.
#
# BIRCH_FBS_COMMAND names the birch command: a target (birch's own build,
# birch_tool) or a path (set by birchConfig.cmake to the installed one).
# It is kept in a global property when this file is included, so that the
# function works in every directory of the project (a sibling of the one
# that called find_package, whose variables it does not see).
#
# OUTPUT_DIR (relative: to the current build directory) is added to
# target's include directories as PUBLIC, in the build tree only
# ($<BUILD_INTERFACE:...>): a library whose own headers include a
# generated one passes the directory on to its users, and an exported
# target carries no build path.  target may be an INTERFACE library (as
# flatbuffers_generate_headers makes one): whatever links it gets the
# directory and waits for the headers.

if(BIRCH_FBS_COMMAND)
    set_property(GLOBAL PROPERTY BIRCH_FBS_COMMAND ${BIRCH_FBS_COMMAND})
endif()

function(birch_flatbuffers_generate target)
    cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIR" "INCLUDE_DIRS")
    if(NOT TARGET ${target})
        message(FATAL_ERROR "birch_flatbuffers_generate: no target '${target}'")
    endif()
    get_target_property(aliased ${target} ALIASED_TARGET)
    get_target_property(imported ${target} IMPORTED)
    if(aliased OR imported)
        message(FATAL_ERROR "birch_flatbuffers_generate: '${target}' is an ALIAS or IMPORTED target; "
                            "name a target this project builds")
    endif()
    if(NOT ARG_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "birch_flatbuffers_generate(${target}): no schema given")
    endif()
    if(NOT BIRCH_FBS_COMMAND)
        get_property(BIRCH_FBS_COMMAND GLOBAL PROPERTY BIRCH_FBS_COMMAND)
    endif()
    if(NOT BIRCH_FBS_COMMAND)
        message(FATAL_ERROR "birch_flatbuffers_generate: BIRCH_FBS_COMMAND is not set (include birch with find_package(birch))")
    endif()
    find_program(BIRCH_FLATC flatc)
    if(NOT BIRCH_FLATC)
        message(FATAL_ERROR "birch_flatbuffers_generate: flatc not found; `birch fbs` reads schemas through "
                            "Google's flatc: install it (Debian: apt-get install flatbuffers-compiler)")
    endif()
    if(NOT ARG_OUTPUT_DIR)
        set(ARG_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/birch_fbs)
    endif()
    # A relative OUTPUT_DIR is in the build tree, as the headers are.
    get_filename_component(ARG_OUTPUT_DIR ${ARG_OUTPUT_DIR} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
    if(TARGET ${BIRCH_FBS_COMMAND})
        set(cmd $<TARGET_FILE:${BIRCH_FBS_COMMAND}>)
    else()
        set(cmd ${BIRCH_FBS_COMMAND})
    endif()

    set(incs "")
    foreach(dir ${ARG_INCLUDE_DIRS})
        get_filename_component(dir ${dir} ABSOLUTE)
        list(APPEND incs -I ${dir})
    endforeach()

    set(headers "")
    foreach(schema ${ARG_UNPARSED_ARGUMENTS})
        get_filename_component(schema ${schema} ABSOLUTE)
        get_filename_component(name ${schema} NAME_WE)
        set(out ${ARG_OUTPUT_DIR}/${name}_birch.h)
        # Several targets of one directory may use the same header: the
        # rule that makes it is added once; two schemas of the same name
        # into one OUTPUT_DIR are an error.
        get_property(from DIRECTORY PROPERTY BIRCH_FBS_FROM_${out})
        list(APPEND headers ${out})
        if(from STREQUAL schema)
            continue()
        elseif(from)
            message(FATAL_ERROR "birch_flatbuffers_generate(${target}): ${schema} and ${from} would both "
                                "generate ${out}; give one of them another OUTPUT_DIR")
        endif()
        set_property(DIRECTORY PROPERTY BIRCH_FBS_FROM_${out} ${schema})
        add_custom_command(OUTPUT ${out}
            COMMAND ${CMAKE_COMMAND} -E make_directory ${ARG_OUTPUT_DIR}
            COMMAND ${cmd} fbs ${schema} ${incs} -o ${out} --flatc ${BIRCH_FLATC} --depfile ${out}.d
            DEPENDS ${schema} ${BIRCH_FBS_COMMAND}
            DEPFILE ${out}.d
            COMMENT "birch fbs: ${name}.fbs -> ${name}_birch.h"
            VERBATIM)
    endforeach()
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
        # An interface library (as flatbuffers_generate_headers makes) has
        # no build of its own: a custom target makes the headers, and
        # every target that links the library depends on it.
        get_property(n GLOBAL PROPERTY BIRCH_FBS_CALLS) # one custom target per call
        if(NOT n)
            set(n 0)
        endif()
        math(EXPR n "${n} + 1")
        set_property(GLOBAL PROPERTY BIRCH_FBS_CALLS ${n})
        add_custom_target(${target}_birch_fbs_${n} DEPENDS ${headers})
        add_dependencies(${target} ${target}_birch_fbs_${n})
        target_include_directories(${target} INTERFACE $<BUILD_INTERFACE:${ARG_OUTPUT_DIR}>)
        return()
    endif()
    target_sources(${target} PRIVATE ${headers})
    if(NOT type STREQUAL "UTILITY") # a custom target only makes the headers
        target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${ARG_OUTPUT_DIR}>)
    endif()
endfunction()
