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
