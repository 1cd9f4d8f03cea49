# Installs lamin-cpp as a CMake package: find_package(lamin CONFIG) gives lamin::lamin (and the component targets).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LAMIN_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/lamin")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/lamin" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(FILES "${PROJECT_BINARY_DIR}/include/lamin/config.hpp" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/lamin")
install(TARGETS ${LAMIN_EXPORTED_TARGETS}
        EXPORT laminTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT laminTargets NAMESPACE lamin:: DESTINATION "${LAMIN_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/laminConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/laminConfig.cmake"
                              INSTALL_DESTINATION "${LAMIN_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/laminConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/laminConfig.cmake" "${PROJECT_BINARY_DIR}/laminConfigVersion.cmake"
        DESTINATION "${LAMIN_CMAKE_DIR}")
