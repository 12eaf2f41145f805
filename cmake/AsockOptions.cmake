# Compiler options shared by the library, its tests and examples (not exported to users).
add_library(asock_build_options INTERFACE)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(asock_build_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
  if(ASOCK_WARNINGS_AS_ERRORS)
    target_compile_options(asock_build_options INTERFACE -Werror)
  endif()
endif()

if(ASOCK_SANITIZE)
  # Applied to every target of this build so that the tests and the library agree.
  add_compile_options(-fsanitize=${ASOCK_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${ASOCK_SANITIZE})
endif()

# Link-time optimization of Release builds: a send crosses the C API, the socket, the loop and
# the backend, each in its own file, and LTO lets the compiler inline across them (about a
# fifth fewer instructions per echo round trip, bench/inproc). The static library keeps fat
# objects (-ffat-lto-objects), so that a program linked without LTO, or by another compiler,
# still links it.
option(ASOCK_LTO "Link-time optimization for Release builds" ON)
if(ASOCK_LTO AND CMAKE_BUILD_TYPE STREQUAL "Release" AND NOT ASOCK_SANITIZE)
  include(CheckIPOSupported)
  check_ipo_supported(RESULT asock_ipo_supported OUTPUT asock_ipo_output LANGUAGES C CXX)
  if(asock_ipo_supported)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      add_compile_options(-ffat-lto-objects)
    endif()
  endif()
endif()
