# Cross build for 64-bit Windows with Debian's mingw-w64 (the -posix compilers, which have
# std::thread), run under Wine: CTest starts every test binary through wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static: the .exe files need no mingw DLLs next to them under Wine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# WINEDEBUG=-all silences Wine's own diagnostics.
set(CMAKE_CROSSCOMPILING_EMULATOR env WINEDEBUG=-all wine)
