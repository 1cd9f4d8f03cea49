# Builds and runs a consumer project of lamin-cpp. MODE=install: installs the already built tree into a prefix and
# consumes it with find_package(lamin CONFIG). MODE=subdirectory: the consumer adds lamin-cpp's source tree.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --install "${LAMIN_BINARY_DIR}" --prefix "${WORK_DIR}/prefix")
  set(torch_arg "")
  if(EXTRA_PREFIX)
    set(torch_arg "-DTorch_DIR=${EXTRA_PREFIX}")
  endif()
  run(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
      "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" ${torch_arg} -DCONSUMER_WITH_TORCH=${WITH_TORCH}
      -DCMAKE_BUILD_TYPE=Release)
else()
  run(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
      "-DLAMIN_SOURCE_DIR=${LAMIN_SOURCE_DIR}" -DCMAKE_BUILD_TYPE=Release)
endif()
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer" "${WORK_DIR}/instance")
message(STATUS "consumer built and ran")
