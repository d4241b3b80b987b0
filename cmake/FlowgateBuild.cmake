# Compiler launcher, warnings and sanitizers shared by every flowgate target.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# Every flowgate target links this to get the project's warnings.
add_library(flowgate_warnings INTERFACE)
target_compile_options(flowgate_warnings INTERFACE -Wall -Wextra -Wpedantic)
if(FLOWGATE_WERROR)
  target_compile_options(flowgate_warnings INTERFACE -Werror)
endif()

# GCC 12 warns falsely inside Beast and Asio once sanitizers are on (-Wmaybe-uninitialized in
# Beast's parser, -Wtsan on Asio's atomic_thread_fence); those two stay warnings, not errors.
if(FLOWGATE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
                      -Wno-error=maybe-uninitialized)
  add_link_options(-fsanitize=address,undefined)
elseif(FLOWGATE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -Wno-error=tsan -Wno-error=maybe-uninitialized)
  add_link_options(-fsanitize=thread)
elseif(FLOWGATE_SANITIZE)
  message(FATAL_ERROR "FLOWGATE_SANITIZE must be empty, 'address' or 'thread', not '${FLOWGATE_SANITIZE}'")
endif()

# Asio and Beast are compiled once, in flowgate_asio, instead of in every translation unit.
add_compile_definitions(
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
)
