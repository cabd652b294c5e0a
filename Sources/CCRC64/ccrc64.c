// Carry-less multiply folding for a reflected CRC-64 (the "Fast CRC computation using PCLMULQDQ" method), without
// its Barrett reduction: the bulk of a buffer is folded down to 16 bytes that have the same CRC, and the caller
// finishes those and the tail with its table. Why in C: Swift has no carry-less multiply intrinsic.
//
// The layout: a 16-byte little-endian chunk is a polynomial whose degree falls from byte 0 bit 0 (x^127) to byte 15
// bit 7 (x^0); its low qword L is the higher half, its high qword H the lower: C = L·x^64 + H. Moving a chunk N bits
// further (xoring it into the chunk N bits later) multiplies it by x^N: L·x^(N+64) + H·x^N, congruent mod P to
// L·(x^(N+63) mod P)·x + H·(x^(N-1) mod P)·x. A carry-less multiply of two bit-reflected 64-bit values yields their
// product times x in this layout, hence the constants of x^(N+63) and x^(N-1).
#include "ccrc64.h"

#if defined(__x86_64__)
#include <immintrin.h>

int coffer_crc64_fold_supported(void) {
    return __builtin_cpu_supports("pclmul");
}

__attribute__((target("pclmul")))
static inline __m128i fold(__m128i chunk, __m128i constants, __m128i next) {
    __m128i high = _mm_clmulepi64_si128(chunk, constants, 0x00);  // L · low constant
    __m128i low = _mm_clmulepi64_si128(chunk, constants, 0x11);   // H · high constant
    return _mm_xor_si128(_mm_xor_si128(high, low), next);
}

__attribute__((target("pclmul")))
void coffer_crc64_fold(uint64_t crc, const uint8_t *data, size_t blocks, const uint64_t constants[4], uint8_t out[16]) {
    const __m128i across512 = _mm_set_epi64x((long long)constants[1], (long long)constants[0]);
    const __m128i across128 = _mm_set_epi64x((long long)constants[3], (long long)constants[2]);
    __m128i x0 = _mm_loadu_si128((const __m128i *)(data + 0));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(data + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(data + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(data + 48));
    x0 = _mm_xor_si128(x0, _mm_set_epi64x(0, (long long)crc));
    for (size_t block = 1; block < blocks; block++) {
        const uint8_t *next = data + block * 64;
        x0 = fold(x0, across512, _mm_loadu_si128((const __m128i *)(next + 0)));
        x1 = fold(x1, across512, _mm_loadu_si128((const __m128i *)(next + 16)));
        x2 = fold(x2, across512, _mm_loadu_si128((const __m128i *)(next + 32)));
        x3 = fold(x3, across512, _mm_loadu_si128((const __m128i *)(next + 48)));
    }
    x1 = fold(x0, across128, x1);
    x2 = fold(x1, across128, x2);
    x3 = fold(x2, across128, x3);
    _mm_storeu_si128((__m128i *)out, x3);
}

#else

int coffer_crc64_fold_supported(void) { return 0; }

void coffer_crc64_fold(uint64_t crc, const uint8_t *data, size_t blocks, const uint64_t constants[4], uint8_t out[16]) {
    (void)crc; (void)data; (void)blocks; (void)constants; (void)out;
}

#endif
