/* Private to src/gpu: a strict reader of .safetensors files (8-byte little-endian header
 * length N, N bytes of JSON header, then the data section), header parsed with json-c.
 * Opening validates the whole header against the file: the header length against the file
 * size, every dtype name, shape and data_offsets pair, offsets inside the data section and
 * equal to shape x dtype size, and the tensors tiling the data section in order with no
 * overlap, gap or trailing bytes (what the reference Rust implementation requires). */
#ifndef HS_GPU_SAFETENSORS_H
#define HS_GPU_SAFETENSORS_H

#include <stddef.h>

#include "error.h"

#define HS_SAFETENSORS_MAX_DIMS 8

typedef struct hs_safetensors hs_safetensors;

/* Open and validate path. Returns NULL with err naming the file and the fault. */
hs_safetensors *hs_safetensors_open(const char *path, hs_error *err);
/* Close; st may be NULL. */
void hs_safetensors_close(hs_safetensors *st);

/* Tensors in header order: count, and the name of tensor i (valid until close). */
size_t hs_safetensors_count(const hs_safetensors *st);
const char *hs_safetensors_name(const hs_safetensors *st, size_t i);

/* Dtype name ("F32", ...) and shape of tensor `name`; shape has room for
 * HS_SAFETENSORS_MAX_DIMS. Returns 0, or -1 when there is no such tensor (err lists a few). */
int hs_safetensors_info(const hs_safetensors *st, const char *name, const char **dtype,
                        size_t *shape, int *ndim, hs_error *err);

/* Read tensor `name` (dtype F32, F16 or BF16) converted exactly to float32 into a malloc'ed
 * array *data (caller frees), with its shape. Returns 0 or -1 with err set. */
int hs_safetensors_read_f32(hs_safetensors *st, const char *name, float **data, size_t *shape,
                            int *ndim, hs_error *err);

#endif
