/* Test helper: write .safetensors files byte by byte, independently of the reader under
 * test, including deliberately broken ones. */
#ifndef HS_TEST_ST_WRITER_H
#define HS_TEST_ST_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write: 8-byte little-endian header_len (as given, which may lie), the header text, then
 * data. Returns 0 or -1. */
static inline int st_write_raw(const char *path, uint64_t header_len, const char *header,
                               const void *data, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(header_len >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, strlen(header), f) == strlen(header) &&
             (data_len == 0 || fwrite(data, 1, data_len, f) == data_len);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A well-formed file: header_len is the header's true length. */
static inline int st_write(const char *path, const char *header, const void *data, size_t data_len)
{
    return st_write_raw(path, strlen(header), header, data, data_len);
}

/* Little-endian bytes of n 16-bit or 32-bit words. */
static inline void st_le16(unsigned char *out, const uint16_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (unsigned char)(w[i] & 0xff);
        out[2 * i + 1] = (unsigned char)(w[i] >> 8);
    }
}

static inline void st_le32(unsigned char *out, const uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = (unsigned char)(w[i] >> (8 * b));
}

/* A temporary path for this test program (mkstemp). The caller unlinks it. */
static inline void st_tmp_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/hs_st_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(buf);
    if (fd >= 0)
        close(fd);
}

#endif
