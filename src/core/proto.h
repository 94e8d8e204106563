/* The master-worker protocol (DESIGN §6): framed messages, packed explicitly in little-endian
 * byte order. Frame: magic "HSWP" (u32), version (u16), type (u16), payload length (u32),
 * then the payload. This module only packs bytes; src/master and src/worker move them over
 * MPI with one tag per message type. */
#ifndef HS_PROTO_H
#define HS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "result.h"
#include "task.h"

#define HS_PROTO_VERSION 2 /* 2: RUN carries max_result_size, READY the worker's pid */
#define HS_PROTO_HEADER  12

/* Also the MPI tags. */
enum hs_msg_type {
    HS_MSG_READY = 1, /* worker -> master: hello, then ready for a task */
    HS_MSG_RUN,       /* master -> worker: a task */
    HS_MSG_RESULT,    /* worker -> master: the outcome of a task */
    HS_MSG_CANCEL,    /* master -> worker: stop the running task (interrupted) */
    HS_MSG_STOP,      /* master -> worker: no more work, exit */
};

typedef struct hs_hello {
    int32_t rank;
    int32_t pid; /* of the worker process on its host */
    char host[64];
    char version[32];
    int32_t has_gpu;
    int32_t gpu_slot;
    int32_t shared;
    char visible[96]; /* CUDA_VISIBLE_DEVICES token */
    char gpu_name[96];
    char gpu_uuid[80];
    char error[512]; /* non-empty: the worker cannot work (e.g. GPU binding conflict) */
} hs_hello;

int hs_proto_pack_hello(const hs_hello *h, hs_buf *out);
int hs_proto_pack_task(const hs_task *t, hs_buf *out);
int hs_proto_pack_result(const hs_result *r, hs_buf *out);
int hs_proto_pack_text(int type, const char *text, hs_buf *out); /* CANCEL, STOP */

/* Checks the frame and returns its type, or -1 with err (bad magic, version, length). */
int hs_proto_type(const void *msg, size_t len, hs_error *err);
int hs_proto_unpack_hello(const void *msg, size_t len, hs_hello *h, hs_error *err);
/* The task is filled with allocations; hs_task_clear frees them. */
int hs_proto_unpack_task(const void *msg, size_t len, hs_task *t, hs_error *err);
/* r must be initialised; its metrics are replaced. */
int hs_proto_unpack_result(const void *msg, size_t len, hs_result *r, hs_error *err);
int hs_proto_unpack_text(const void *msg, size_t len, char *text, size_t cap, hs_error *err);

#endif
