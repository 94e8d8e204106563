/* The .safetensors reader: F32, F16 and BF16 read back bit-exact from a file the test writes
 * byte by byte, and a clear error for every kind of truncated or lying file. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "safetensors.h"
#include "st_writer.h"

static char path[256];

static int setup(void **state)
{
    (void)state;
    st_tmp_path(path, sizeof path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* binary16 -> float from the definition: (-1)^s 2^(e-15) (1 + m/1024), subnormals
 * 2^-14 (m/1024). Written here independently of the reader's conversion. */
static float half_by_definition(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m / 1024.0, -14) : ldexp(1.0 + m / 1024.0, e - 15);
    return (float)(s ? -v : v);
}

static void expect_error(const char *needle)
{
    hs_error err = { "" };
    hs_safetensors *st = hs_safetensors_open(path, &err);
    if (st) {
        hs_safetensors_close(st);
        fail_msg("opened a broken file; expected an error containing \"%s\"", needle);
    }
    if (!strstr(err.text, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err.text, needle);
    if (!strstr(err.text, path))
        fail_msg("error \"%s\" does not name the file", err.text);
}

static void test_read_back_bit_exact(void **state)
{
    (void)state;
    /* F32: ordinary values, -0, a float subnormal, the largest float, a NaN payload. */
    const uint32_t f32[6] = { 0x3f800000u, 0xbfc00000u, 0x80000000u,
                              0x00000001u, 0x7f7fffffu, 0x7fc01234u };
    /* F16: 1, -2, 0x3555 (0.33325...), the smallest subnormal, the largest normal, -0. */
    const uint16_t f16[6] = { 0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000 };
    /* BF16: 1, -3.140625, a subnormal, the largest. */
    const uint16_t bf16[4] = { 0x3f80, 0xc049, 0x0001, 0x7f7f };
    unsigned char data[24 + 12 + 8];
    st_le32(data, f32, 6);
    st_le16(data + 24, f16, 6);
    st_le16(data + 36, bf16, 4);
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
                         "\"w32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                         "\"w16\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[24,36]},"
                         "\"wbf\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[36,44]}}  ";
    assert_int_equal(st_write(path, header, data, sizeof data), 0);

    hs_error err = { "" };
    hs_safetensors *st = hs_safetensors_open(path, &err);
    if (!st)
        fail_msg("open: %s", err.text);
    assert_int_equal(hs_safetensors_count(st), 3);
    float *x = NULL;
    size_t shape[HS_SAFETENSORS_MAX_DIMS];
    int ndim = 0;

    assert_int_equal(hs_safetensors_read_f32(st, "w32", &x, shape, &ndim, &err), 0);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    for (int i = 0; i < 6; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        assert_int_equal(u, f32[i]);
    }
    free(x);

    assert_int_equal(hs_safetensors_read_f32(st, "w16", &x, shape, &ndim, &err), 0);
    assert_int_equal(shape[0], 3);
    assert_int_equal(shape[1], 2);
    for (int i = 0; i < 6; i++) {
        float want = half_by_definition(f16[i]);
        assert_memory_equal(&x[i], &want, 4);
    }
    assert_true(signbit(x[5]));
    free(x);

    assert_int_equal(hs_safetensors_read_f32(st, "wbf", &x, shape, &ndim, &err), 0);
    for (int i = 0; i < 4; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        assert_int_equal(u, (uint32_t)bf16[i] << 16);
    }
    free(x);

    const char *dtype;
    assert_int_equal(hs_safetensors_info(st, "wbf", &dtype, shape, &ndim, &err), 0);
    assert_string_equal(dtype, "BF16");
    assert_int_equal(hs_safetensors_read_f32(st, "nope", &x, shape, &ndim, &err), -1);
    assert_non_null(strstr(err.text, "no tensor named 'nope'"));
    assert_non_null(strstr(err.text, "w32"));
    hs_safetensors_close(st);
}

static void test_unreadable_dtype(void **state)
{
    (void)state;
    unsigned char data[8] = { 1, 0, 0, 0, 2, 0, 0, 0 };
    assert_int_equal(st_write(path,
                              "{\"ids\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                              data, 8),
                     0);
    hs_error err = { "" };
    hs_safetensors *st = hs_safetensors_open(path, &err);
    assert_non_null(st);
    float *x = NULL;
    size_t shape[HS_SAFETENSORS_MAX_DIMS];
    int ndim;
    assert_int_equal(hs_safetensors_read_f32(st, "ids", &x, shape, &ndim, &err), -1);
    assert_non_null(strstr(err.text, "dtype I32"));
    hs_safetensors_close(st);
}

static const char good[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
static const unsigned char zeros[64];

static void test_truncated_files(void **state)
{
    (void)state;
    /* shorter than the length field */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("abc", 1, 3, f);
    fclose(f);
    expect_error("truncated");
    /* the header itself cut short: its length runs past the end of the file */
    assert_int_equal(st_write_raw(path, strlen(good), "{\"w\":{\"dtype\"", NULL, 0), 0);
    expect_error("runs past the end of the file");
    /* data cut short: the tensor's offsets run past the data section */
    assert_int_equal(st_write(path, good, zeros, 10), 0);
    expect_error("run past the data section");
}

static void test_lying_headers(void **state)
{
    (void)state;
    /* header length far beyond the file */
    assert_int_equal(st_write_raw(path, 1ull << 40, good, zeros, 16), 0);
    expect_error("runs past the end of the file");
    /* header length shorter than the JSON */
    assert_int_equal(st_write_raw(path, 20, good, zeros, 16), 0);
    expect_error("not complete JSON");
    /* offsets out of range */
    assert_int_equal(
        st_write(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
                 zeros, 16),
        0);
    expect_error("run past the data section");
    /* offsets that end before they begin */
    assert_int_equal(st_write(path,
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}",
                              zeros, 16),
                     0);
    expect_error("end before they begin");
    /* shape x dtype size does not match the byte range */
    assert_int_equal(st_write(path,
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,16]}}",
                              zeros, 16),
                     0);
    expect_error("shape x F32 size is 6 x 4 bytes");
    /* unknown dtype */
    assert_int_equal(st_write(path,
                              "{\"w\":{\"dtype\":\"F13\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                              zeros, 16),
                     0);
    expect_error("unknown dtype \"F13\"");
    /* overlapping tensors */
    assert_int_equal(st_write(path,
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                              zeros, 16),
                     0);
    expect_error("overlaps");
    /* a hole between tensors */
    assert_int_equal(st_write(path,
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
                              zeros, 16),
                     0);
    expect_error("unreferenced bytes");
    /* bytes after the last tensor */
    assert_int_equal(st_write(path, good, zeros, 20), 0);
    expect_error("cover 16 bytes of the 20-byte data section");
    /* negative or non-integer numbers */
    assert_int_equal(st_write(path,
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,16]}}",
                              zeros, 16),
                     0);
    expect_error("shape[0] = -1");
    assert_int_equal(st_write(path,
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16.0]}}",
                              zeros, 16),
                     0);
    expect_error("not non-negative integers");
    /* missing fields, not an object, garbage after the JSON, metadata that is not strings */
    assert_int_equal(st_write(path, "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 16),
                     0);
    expect_error("no dtype");
    assert_int_equal(st_write(path, "[1, 2]", zeros, 0), 0);
    expect_error("does not start with '{'");
    assert_int_equal(st_write(path, "{} x", zeros, 0), 0);
    expect_error("bytes after the header");
    assert_int_equal(st_write(path, "{\"__metadata__\":{\"n\":1}}", zeros, 0), 0);
    expect_error("__metadata__.n is not a string");
}

static void test_missing_file(void **state)
{
    (void)state;
    hs_error err = { "" };
    assert_null(hs_safetensors_open("/nonexistent/model.safetensors", &err));
    assert_non_null(strstr(err.text, "/nonexistent/model.safetensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_back_bit_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_dtype, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lying_headers, setup, teardown),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
