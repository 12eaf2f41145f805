# cmake --install: headers, the static and the shared library, a CMake package
# (find_package(asock 0.1) gives asock::asock, the shared library, and asock::asock_static)
# and a pkg-config file (asock.pc: the shared library; asock-static.pc: the static one).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(asock PROPERTIES EXPORT_NAME asock_static)
set_target_properties(asock_shared PROPERTIES EXPORT_NAME asock)

install(TARGETS asock asock_shared EXPORT asockTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/asock DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT asockTargets NAMESPACE asock:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asock)
configure_package_config_file(cmake/asockConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/asockConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asock)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/asockConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/asockConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/asockConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asock)

if(NOT WIN32)
  set(ASOCK_PC_PRIVATE_LIBS "-lpthread")
  if(ASOCK_WITH_IO_URING)
    set(ASOCK_PC_REQUIRES_PRIVATE "liburing")
  endif()
  # The way up from the .pc file's folder to the prefix, so that the package is relocatable.
  file(RELATIVE_PATH ASOCK_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  configure_file(cmake/asock.pc.in ${CMAKE_CURRENT_BINARY_DIR}/asock.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/asock.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
