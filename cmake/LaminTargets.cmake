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

# lamin_torch_pch(<target>): precompile LibTorch's umbrella header for <target>, when enabled.
function(lamin_torch_pch target)
  if(LAMIN_PCH)
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  endif()
endfunction()
