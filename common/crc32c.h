#ifndef QFLEET_COMMON_CRC32C_H_
#define QFLEET_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace qfleet {

// Returns the CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial
// value and final xor 0xFFFFFFFF) of the `n` bytes at `data`. `crc` is the
// result of a previous call over the preceding bytes (0 to start), so
// Crc32c(b, nb, Crc32c(a, na)) is the CRC of a followed by b. Uses the SSE4.2
// crc32 instruction when the CPU has it, else slicing-by-8. Thread-safe.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// Same contract and result as Crc32c, always computed by the portable
// slicing-by-8 tables; exists so tests can check the two paths agree.
// Thread-safe.
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc = 0);

}  // namespace qfleet

#endif  // QFLEET_COMMON_CRC32C_H_
