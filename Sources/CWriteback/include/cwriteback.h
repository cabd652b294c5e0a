#ifndef COFFER_CWRITEBACK_H
#define COFFER_CWRITEBACK_H

/// Starts writing `count` bytes of `fd` at `offset` back to disk without waiting for them (Linux's
/// `sync_file_range(..., SYNC_FILE_RANGE_WRITE)`, which Swift's Glibc module does not declare: it needs
/// _GNU_SOURCE). Returns 0, or -1 with errno; elsewhere it does nothing and returns 0.
int coffer_start_writeback(int fd, long long offset, long long count);

#endif
