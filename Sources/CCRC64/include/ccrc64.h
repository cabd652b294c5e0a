#ifndef COFFER_CCRC64_H
#define COFFER_CCRC64_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the carry-less multiply `coffer_crc64_fold` needs (x86-64 PCLMULQDQ); 0 elsewhere.
int coffer_crc64_fold_supported(void);

/// Folds `blocks` (at least 1) 64-byte blocks of `data`, with `crc` xored into their first 8 bytes, into 16 bytes
/// `out` whose reflected CRC-64 from 0 equals the CRC of those blocks from `crc`. `constants` are the folding
/// multipliers, bit-reflected: x^575, x^511, x^191 and x^127, each modulo the CRC's polynomial (see CRC64.swift).
/// Only call it when `coffer_crc64_fold_supported()` says so.
void coffer_crc64_fold(uint64_t crc, const uint8_t *data, size_t blocks, const uint64_t constants[4], uint8_t out[16]);

#endif
