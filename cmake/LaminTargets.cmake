# Helpers shared by lamin-cpp's targets.

# lamin_configure_target(<target>): warnings, sanitizers and include paths common to every lamin-cpp target.
function(lamin_configure_target target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra)
    if(LAMIN_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
  if(LAMIN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${LAMIN_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PUBLIC -fsanitize=${LAMIN_SANITIZE})
  endif()
endfunction()

# lamin_torch_pch(<target>): precompile LibTorch's umbrella header, when enabled. lamin_pl builds the one
# precompiled header of the tree; every other torch-linked target reuses it (a PCH costs as much as a minute to
# build here, and most targets have a single translation unit).
function(lamin_torch_pch target)
  if(NOT LAMIN_PCH)
    return()
  endif()
  if(target STREQUAL "lamin_pl")
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  else()
    target_precompile_headers(${target} REUSE_FROM lamin_pl)
    # GCC and Clang use a precompiled header only under its own code model: lamin_pl's is -fPIC, and an
    # executable's default is -fPIE (-fPIC code links into a PIE just as well).
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "EXECUTABLE" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
      target_compile_options(${target} PRIVATE -fPIC)
    endif()
  endif()
endfunction()
