#pragma once
// CRC-32C (Castagnoli), as TFRecord framing uses it. Private to lamin::pl.

#include <cstddef>
#include <cstdint>

namespace lamin::pl::detail {

/// CRC-32C of `size` bytes (reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF).
/// crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t size);

/// TFRecord's masked CRC: `((crc >> 15) | (crc << 17)) + 0xA282EAD8`, modulo 2^32.
std::uint32_t masked_crc32c(const void* data, std::size_t size);

}  // namespace lamin::pl::detail
