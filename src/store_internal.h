/*
 * store_internal.h: what store.c, store_write.c, store_read.c and store_bench.c share
 * (private to them; nothing else includes HDF5). Conventions of every helper: see the
 * comment at the top of store.c. All st_* helpers with a hid_t are collective unless
 * a comment says otherwise.
 */
#ifndef FEDALIGN_STORE_INTERNAL_H
#define FEDALIGN_STORE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "fedalign/check.h"
#include "fedalign/store.h"

#ifndef FEDALIGN_VERSION
#define FEDALIGN_VERSION "unknown"
#endif
#ifndef FEDALIGN_GIT
#define FEDALIGN_GIT "unknown"
#endif

struct StoreFile {
    hid_t file;
    bool writing; /* made by store_create: checked for space before the close */
    char path[FA_PATH_LEN];
};

/* A failed HDF5 call: die with file:line, or, inside st_soft_read, jump back to it
 * (st_g_soft_jmp set) with the call's text in st_g_soft_call. */
extern jmp_buf *st_g_soft_jmp;
extern char st_g_soft_call[160];
FA_NORETURN void st_h5_fail(const char *call, const char *file, int line);
hid_t st_h5_id(hid_t id, const char *call, const char *file, int line);

#define H5_CHECK(call)                                                                             \
    do {                                                                                           \
        if ((call) < 0) st_h5_fail(#call, __FILE__, __LINE__);                                     \
    } while (0)
/* for calls that return an identifier (or an htri_t that must not be negative) */
#define H5_ID(call) st_h5_id((hid_t)(call), #call, __FILE__, __LINE__)

/* Run reader(f, ctx, err, errlen) with HDF5 failures turned into a -1 return and a
 * message; collective: every rank returns the same verdict (store_read.c). */
typedef int (*SoftReader)(StoreFile *f, void *ctx, char *err, size_t errlen);
int st_soft_read(StoreFile *f, SoftReader reader, void *ctx, char *err, size_t errlen);

/* Hash of every /checkpoint scalar and the checksums of global, prev, foundation (the
 * state_checksum attribute; local). */
uint64_t st_state_hash(const CheckpointState *st, const uint64_t vec_sums[3]);
/* checksum of the server state doubles (their bytes) */
uint64_t st_server_hash(const double *v, size_t n);
/* HDF5 keeps no checksum of raw data, so every checkpoint array carries one (store_write.c).
 * st_elems_hash: hash of n elements of esz (<= 8) bytes each, their bytes (local).
 * st_clients_checksum: the same for per-client data, independent of the rank count and
 * of which rank holds which client: the wrapping uint64 sum over clients of a hash of
 * (global id, the client's `per` elements), summed over ranks (collective). Element k
 * of local client i is buf[i * a + k * b]: a = per, b = 1 for [C] / [C, w] rows
 * (st_put_rows), a = 1, b = n for the columns of an [R, C] block (st_dset_xfer_rc). */
uint64_t st_elems_hash(const void *buf, size_t n, size_t esz);
uint64_t st_clients_checksum(const void *buf, size_t esz, const size_t *ids, size_t n, size_t per,
                             size_t a, size_t b);
/* the name of the per-dataset checksum attribute of method groups */
#define ST_CONTENT_CHECKSUM "content_checksum"

bool st_parse_hex(const char *s, uint64_t *v);
/* fixed-length, NUL-terminated ASCII string type of `width` bytes */
hid_t st_str_type(size_t width);

// attributes: writers store rank 0's value (broadcast first) except st_attr_put, which
// writes the caller's bytes; ndims 0 = scalar
void st_attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims, hsize_t dim,
                 const void *data);
void st_attr_str(hid_t loc, const char *name, const char *value);
void st_attr_strs(hid_t loc, const char *name, const char (*names)[FA_NAME_LEN], size_t n);
void st_attr_i64(hid_t loc, const char *name, int64_t v);
void st_attr_i32(hid_t loc, const char *name, int32_t v);
void st_attr_bool(hid_t loc, const char *name, bool b);
void st_attr_f64(hid_t loc, const char *name, double v);
void st_attr_f64s(hid_t loc, const char *name, const double *v, size_t n);
void st_attr_hex(hid_t loc, const char *name, uint64_t v);
/* the provenance root attributes (placement: n_nodes, ranks_per_node, hostnames, env.*;
 * provenance_visit: compiler, c_flags, ..., git_dirty): store_write.c. local: written by
 * rank 0 alone (bench files), else collective with rank 0's values */
void st_write_provenance(hid_t root, bool local);
/* readers: -1 when absent */
int st_attr_get(hid_t loc, const char *name, hid_t mtype, void *out);
int st_attr_get_str(hid_t loc, const char *name, char *out, size_t cap);

// datasets
hid_t st_dset_create(hid_t loc, const char *name, hid_t ftype, int ndims, const hsize_t *dims,
                     const char *dim_names, const char *units);
void st_dset_write_global(hid_t d, hid_t mtype, const void *buf);
void st_dset_read_global(hid_t d, hid_t mtype, void *buf);
void st_dset_xfer_rows(hid_t d, hid_t mtype, const size_t *ids, size_t n, size_t width, void *buf,
                       bool write);
void st_dset_xfer_rc(hid_t d, hid_t mtype, void *buf, size_t R, const size_t *ids, size_t n,
                     bool write);
int st_dset_dims(hid_t loc, const char *name, hsize_t *dims, int maxdims);
void st_put_global(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims,
                   const hsize_t *dims, const char *dim_names, const char *units, const void *buf);
void st_put_rows(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t C, size_t width,
                 const char *dim_names, const char *units, const size_t *ids, size_t n, const void *buf);
/* H5DS dimension scales for every dataset of g from its "dims" attribute (store.c) */
void st_attach_scales(hid_t g);
hid_t st_group_open_or_create(hid_t loc, const char *name);
hid_t st_group_replace(hid_t loc, const char *name);

// the method field table (result.h) in the file
/* dims attribute of a dataset field ("round,client", ...) */
const char *st_field_dims(const FaField *fd);
/* "units" attribute of a field, NULL for none */
const char *st_field_units(const FaField *fd);
/* file and memory types of a dataset field's elements (size_t/long travel as int64) */
hid_t st_field_ftype(const FaField *fd);
hid_t st_field_mtype(const FaField *fd);

/* a check made on rank 0 and broadcast to every rank (preflight, temporary name, lock,
 * free space) */
typedef struct {
    int32_t ok;                      /* 0 = usable, -1 = not */
    char msg[3 * FA_PATH_LEN + 256]; /* room for two paths and strerror */
} Verdict;

/* store_paths.c: remove every output lock this process holds (at exit, on an agreed
 * failure, before an MPI_Abort that skips atexit) */
void st_unlock_all(void);

#endif
