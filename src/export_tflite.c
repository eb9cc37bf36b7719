/*
 * export_tflite.c: `fedalign export --format tflite`: the int8 MLP (quant.h) and the int8
 * cnn1d (quant_cnn.c) as TensorFlow Lite flatbuffers, through a small self-written
 * flatbuffer builder and the table-driven graph writer of tflite.h.
 *
 * Not here: quantization (quant.c, quant_cnn.c: the file carries exactly their integers
 * and scales),
 * the command and its flags (export.c), MPI, HDF5.
 *
 * Invariants:
 * - flatbuffer layout as the reference builder makes it: built back to front, every
 *   scalar aligned to its size, vectors' length prefix 4-aligned, Buffer.data 16-aligned
 *   (force_align in the schema), the file padded so that every alignment holds from its
 *   start (TFLite and Arm NN run the flatbuffers verifier, which checks alignment);
 * - what TFLite (Micro) computes from the file is quant.c's arithmetic: the bias is the
 *   unfolded int32 bias (TFLite subtracts the input zero point itself), every requantization
 *   multiplier TFLite derives, (double)s_in * (double)s_w / (double)s_out, is the one
 *   quant_build took, and the fused ReLU clamps at the output zero point as act_min does;
 *   for the cnn1d, CONV_2D's int32 accumulator over a 1 x k window is kernel_conv's (the
 *   filter [c_out][1][k][c_in] is the same bytes as its (c_out, k * c_in) rows), MAX_POOL_2D
 *   is kernel_maxpool, and MEAN over H and W with keep_dims on a 4D tensor is the one path
 *   of TFLite's int8 MEAN (reference_integer_ops::Mean) that requantizes and rounds as
 *   kernel_mean does (its multiplier, (double)s_in / (double)s_out, is quant_cnn.c's);
 * - deterministic: the same model gives the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_internal.h"
#include "fedalign/check.h"
#include "fedalign/export.h"
#include "fedalign/opttab.h"
#include "tflite.h"

#ifndef FEDALIGN_VERSION
#define FEDALIGN_VERSION "unknown"
#endif

// ----------------------------------------------------------------------------
// flatbuffer builder: bytes grow downward from the end of buf; an object is named by its
// distance from the end ("ref"), which does not change as more is prepended

#define FB_MAX_SLOTS 16
#define FB_MAX_BYTES ((size_t)1 << 31) /* flatbuffers' own limit (signed 32-bit offsets) */

typedef struct {
    unsigned char *buf;
    size_t cap, len, minalign;
    size_t slot[FB_MAX_SLOTS]; /* ref of each field of the open table, 0 = absent */
    size_t n_slots, table_start;
    bool too_big;
} Fb;

static void fb_reserve(Fb *b, size_t n) {
    if (b->cap - b->len >= n) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n) cap *= 2;
    unsigned char *nb = xmalloc(cap);
    if (b->len) memcpy(nb + cap - b->len, b->buf + b->cap - b->len, b->len);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
}

static void fb_push(Fb *b, const void *p, size_t n) {
    if (b->too_big || n > FB_MAX_BYTES - b->len) { /* reported by tfl_write at the end */
        b->too_big = true;
        return;
    }
    fb_reserve(b, n);
    b->len += n;
    if (n) memcpy(b->buf + b->cap - b->len, p, n);
}

/* pad so that, after `extra` more bytes, the object written last is align-aligned */
static void fb_prep(Fb *b, size_t align, size_t extra) {
    if (align > b->minalign) b->minalign = align;
    static const unsigned char zero[16];
    fb_push(b, zero, (0 - (b->len + extra)) & (align - 1));
}

/* little-endian scalar of n bytes (1, 2, 4 or 8), aligned to n */
static void fb_scalar(Fb *b, uint64_t v, size_t n) {
    unsigned char le[8];
    for (size_t i = 0; i < n; i++) le[i] = (unsigned char)(v >> (8 * i));
    fb_prep(b, n, 0);
    fb_push(b, le, n);
}

/* a uoffset to the object `ref`: the distance from this field forward to it */
static void fb_ref(Fb *b, size_t ref) {
    fb_prep(b, 4, 0);
    fb_scalar(b, (uint64_t)(b->len + 4 - ref), 4);
}

/* n host scalars of elem bytes (1, 4 or 8) as little-endian bytes (malloc'ed) */
static unsigned char *to_le(const void *v, size_t elem, size_t n) {
    unsigned char *le = xmalloc(elem * n + 1);
    const unsigned char *src = v;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        uint32_t u = 0;
        if (elem == 1) x = src[i];
        else if (elem == 4) memcpy(&u, src + 4 * i, 4), x = u;
        else memcpy(&x, src + 8 * i, 8);
        for (size_t k = 0; k < elem; k++) le[i * elem + k] = (unsigned char)(x >> (8 * k));
    }
    return le;
}

/* a vector of n scalars of elem bytes from host values v, its data aligned to align */
static size_t fb_vec(Fb *b, const void *v, size_t elem, size_t n, size_t align) {
    fb_prep(b, 4, elem * n);
    fb_prep(b, align > elem ? align : elem, elem * n);
    unsigned char *le = to_le(v, elem, n);
    fb_push(b, le, elem * n);
    free(le);
    fb_scalar(b, n, 4);
    return b->len;
}

static size_t fb_vec_refs(Fb *b, const size_t *refs, size_t n) {
    fb_prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;) fb_ref(b, refs[i]);
    fb_scalar(b, n, 4);
    return b->len;
}

static size_t fb_string(Fb *b, const char *s) {
    size_t n = strlen(s);
    fb_prep(b, 4, n + 1);
    fb_push(b, "", 1);
    fb_push(b, s, n);
    fb_scalar(b, n, 4);
    return b->len;
}

static void fb_start(Fb *b) {
    memset(b->slot, 0, sizeof b->slot);
    b->n_slots = 0;
    b->table_start = b->len;
}

static void fb_mark(Fb *b, size_t slot) {
    CHECK(slot < FB_MAX_SLOTS, "flatbuffer table slot %zu out of range", slot);
    b->slot[slot] = b->len;
    if (slot + 1 > b->n_slots) b->n_slots = slot + 1;
}
static void fb_field(Fb *b, size_t slot, uint64_t v, size_t n) {
    fb_scalar(b, v, n);
    fb_mark(b, slot);
}
static void fb_field_ref(Fb *b, size_t slot, size_t ref) {
    fb_ref(b, ref);
    fb_mark(b, slot);
}

/* close the table: its soffset to a vtable written just below it (no sharing) */
static size_t fb_end(Fb *b) {
    fb_scalar(b, 0, 4); /* soffset, patched below */
    const size_t obj = b->len;
    for (size_t i = b->n_slots; i-- > 0;)
        fb_scalar(b, b->slot[i] ? obj - b->slot[i] : 0, 2);
    fb_scalar(b, obj - b->table_start, 2);
    fb_scalar(b, 4 + 2 * b->n_slots, 2);
    uint32_t so = (uint32_t)(b->len - obj); /* vtable = table - soffset */
    if (b->too_big) return obj;
    unsigned char *p = b->buf + b->cap - obj;
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(so >> (8 * k));
    return obj;
}

// ----------------------------------------------------------------------------
// the operator table

static size_t opts_fully_connected(Fb *b, const TflOp *op) {
    fb_start(b);
    fb_field(b, 0, (uint64_t)op->act, 1); /* fused_activation_function */
    return fb_end(b);                     /* weights_format DEFAULT, keep_num_dims false */
}

/* Conv2DOptions: padding, stride_w, stride_h, fused activation, dilation_w, dilation_h */
static size_t opts_conv_2d(Fb *b, const TflOp *op) {
    fb_start(b);
    fb_field(b, 0, (uint64_t)op->padding, 1);
    fb_field(b, 1, (uint64_t)(uint32_t)op->stride_w, 4);
    fb_field(b, 2, (uint64_t)(uint32_t)op->stride_h, 4);
    fb_field(b, 3, (uint64_t)op->act, 1);
    fb_field(b, 4, 1, 4);
    fb_field(b, 5, 1, 4);
    return fb_end(b);
}

/* Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, activation */
static size_t opts_pool_2d(Fb *b, const TflOp *op) {
    fb_start(b);
    fb_field(b, 0, (uint64_t)op->padding, 1);
    fb_field(b, 1, (uint64_t)(uint32_t)op->stride_w, 4);
    fb_field(b, 2, (uint64_t)(uint32_t)op->stride_h, 4);
    fb_field(b, 3, (uint64_t)(uint32_t)op->filter_w, 4);
    fb_field(b, 4, (uint64_t)(uint32_t)op->filter_h, 4);
    fb_field(b, 5, (uint64_t)op->act, 1);
    return fb_end(b);
}

/* ReducerOptions: keep_dims */
static size_t opts_reducer(Fb *b, const TflOp *op) {
    fb_start(b);
    fb_field(b, 0, op->keep_dims ? 1 : 0, 1);
    return fb_end(b);
}

/* ReshapeOptions: new_shape (the vector first: a table's fields point backward) */
static size_t opts_reshape(Fb *b, const TflOp *op) {
    size_t v = fb_vec(b, op->new_shape, 4, op->new_ndim, 4);
    fb_start(b);
    fb_field_ref(b, 0, v);
    return fb_end(b);
}

typedef struct {
    const char *name;
    int32_t builtin;      /* tflite.BuiltinOperator */
    int32_t version;      /* operator version of the int8 form */
    uint8_t options_type; /* tflite.BuiltinOptions union member (0: none) */
    size_t (*options)(Fb *b, const TflOp *op);
} TflOpDef;

static const TflOpDef op_defs[TFL_OP_KIND_COUNT] = {
    [TFL_OP_FULLY_CONNECTED] = {"FULLY_CONNECTED", 9, 4, 8, opts_fully_connected},
    /* int8 with per-channel filter scales is CONV_2D version 3 */
    [TFL_OP_CONV_2D] = {"CONV_2D", 3, 3, 1, opts_conv_2d},
    [TFL_OP_MAX_POOL_2D] = {"MAX_POOL_2D", 17, 2, 5, opts_pool_2d},
    [TFL_OP_MEAN] = {"MEAN", 40, 2, 27, opts_reducer},
    [TFL_OP_RESHAPE] = {"RESHAPE", 22, 1, 17, opts_reshape},
};

// ----------------------------------------------------------------------------
// the model

static size_t elem_bytes(TflType t) { return t == TFL_INT8 ? 1 : 4; }

static size_t tensor_elems(const TflTensor *t) {
    size_t n = 1;
    for (size_t d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

static size_t write_tensor(Fb *b, const TflTensor *t, uint32_t buffer) {
    size_t quant = 0;
    if (t->n_quant) {
        size_t sv = fb_vec(b, t->scale, 4, t->n_quant, 4);
        size_t zv = fb_vec(b, t->zero_point, 8, t->n_quant, 8);
        fb_start(b);
        fb_field_ref(b, 2, sv);                               /* scale */
        fb_field_ref(b, 3, zv);                               /* zero_point */
        fb_field(b, 6, (uint64_t)(uint32_t)t->quant_dim, 4); /* quantized_dimension */
        quant = fb_end(b);
    }
    size_t shape = fb_vec(b, t->shape, 4, t->ndim, 4), name = fb_string(b, t->name);
    fb_start(b);
    fb_field_ref(b, 0, shape);
    fb_field(b, 1, (uint64_t)t->type, 1);
    fb_field(b, 2, buffer, 4);
    fb_field_ref(b, 3, name);
    if (quant) fb_field_ref(b, 4, quant);
    return fb_end(b);
}

/* a Buffer table: data is [ubyte], the elements' little-endian bytes, 16-aligned */
static size_t write_buffer(Fb *b, const void *data, size_t elem, size_t n) {
    size_t v = 0;
    if (data) {
        unsigned char *le = to_le(data, elem, n);
        v = fb_vec(b, le, 1, elem * n, 16);
        free(le);
    }
    fb_start(b);
    if (data) fb_field_ref(b, 0, v);
    return fb_end(b);
}

static int check_graph(const TflGraph *g, char *err, size_t errlen) {
    for (size_t i = 0; i < g->n_tensors; i++) {
        const TflTensor *t = &g->tensors[i];
        if (t->ndim > TFL_MAX_DIMS || tensor_elems(t) == 0)
            return opt_fail(err, errlen, "tflite: tensor %s has no elements", t->name);
    }
    for (size_t o = 0; o < g->n_ops; o++) {
        const TflOp *op = &g->ops[o];
        if (op->kind >= TFL_OP_KIND_COUNT || op->n_in > TFL_MAX_IO || op->n_out > TFL_MAX_IO)
            return opt_fail(err, errlen, "tflite: operator %zu is malformed", o);
        for (size_t k = 0; k < op->n_in + op->n_out; k++) {
            int32_t ti = k < op->n_in ? op->in[k] : op->out[k - op->n_in];
            if (ti < 0 || (size_t)ti >= g->n_tensors)
                return opt_fail(err, errlen, "tflite: operator %zu names tensor %d of %zu", o,
                                (int)ti, g->n_tensors);
        }
    }
    return 0;
}

/* the subgraph: tensors, inputs/outputs, operators; opcode[kind] = operator code index */
static size_t write_subgraph(Fb *b, const TflGraph *g, const uint32_t *opcode) {
    size_t *refs = xmalloc((g->n_tensors + g->n_ops + 1) * sizeof(size_t));
    uint32_t next_buffer = 1; /* 0 is the empty buffer */
    for (size_t i = 0; i < g->n_tensors; i++)
        refs[i] = write_tensor(b, &g->tensors[i], g->tensors[i].data ? next_buffer++ : 0);
    size_t tensors = fb_vec_refs(b, refs, g->n_tensors);
    for (size_t o = 0; o < g->n_ops; o++) {
        const TflOp *op = &g->ops[o];
        const TflOpDef *def = &op_defs[op->kind];
        size_t in = fb_vec(b, op->in, 4, op->n_in, 4), out = fb_vec(b, op->out, 4, op->n_out, 4);
        size_t opts = def->options ? def->options(b, op) : 0;
        fb_start(b);
        fb_field(b, 0, opcode[op->kind], 4); /* opcode_index */
        fb_field_ref(b, 1, in);
        fb_field_ref(b, 2, out);
        if (opts) {
            fb_field(b, 3, def->options_type, 1); /* builtin_options_type */
            fb_field_ref(b, 4, opts);
        }
        refs[o] = fb_end(b);
    }
    size_t ops = fb_vec_refs(b, refs, g->n_ops);
    size_t ins = fb_vec(b, g->inputs, 4, g->n_inputs, 4);
    size_t outs = fb_vec(b, g->outputs, 4, g->n_outputs, 4);
    size_t name = fb_string(b, "main");
    free(refs);
    fb_start(b);
    fb_field_ref(b, 0, tensors);
    fb_field_ref(b, 1, ins);
    fb_field_ref(b, 2, outs);
    fb_field_ref(b, 3, ops);
    fb_field_ref(b, 4, name);
    return fb_end(b);
}

/* operator codes, one per kind used, in order of first use; opcode[kind] = its index */
static size_t write_opcodes(Fb *b, const TflGraph *g, uint32_t *opcode) {
    size_t refs[TFL_OP_KIND_COUNT], n = 0;
    TflOpKind order[TFL_OP_KIND_COUNT];
    for (size_t k = 0; k < TFL_OP_KIND_COUNT; k++) opcode[k] = UINT32_MAX;
    for (size_t o = 0; o < g->n_ops; o++)
        if (opcode[g->ops[o].kind] == UINT32_MAX) {
            opcode[g->ops[o].kind] = (uint32_t)n;
            order[n++] = g->ops[o].kind;
        }
    for (size_t i = 0; i < n; i++) {
        const TflOpDef *def = &op_defs[order[i]];
        fb_start(b);
        fb_field(b, 0, (uint64_t)(uint8_t)def->builtin, 1); /* deprecated_builtin_code */
        fb_field(b, 2, (uint64_t)(uint32_t)def->version, 4);
        fb_field(b, 3, (uint64_t)(uint32_t)def->builtin, 4); /* builtin_code */
        refs[i] = fb_end(b);
    }
    return fb_vec_refs(b, refs, n);
}

int tfl_write(const TflGraph *g, unsigned char **out, size_t *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    if (check_graph(g, err, errlen) != 0) return -1;
    Fb b = {.minalign = 1};
    /* buffers: 0 empty, then the constant tensors', then the metadata entries' */
    size_t n_buf = 1 + g->n_meta;
    for (size_t i = 0; i < g->n_tensors; i++) n_buf += g->tensors[i].data != NULL;
    size_t *refs = xmalloc((n_buf + g->n_meta) * sizeof(size_t)), k = 0;
    refs[k++] = write_buffer(&b, NULL, 1, 0);
    for (size_t i = 0; i < g->n_tensors; i++) {
        const TflTensor *t = &g->tensors[i];
        if (t->data) refs[k++] = write_buffer(&b, t->data, elem_bytes(t->type), tensor_elems(t));
    }
    const uint32_t meta_buffer0 = (uint32_t)k;
    for (size_t m = 0; m < g->n_meta; m++)
        refs[k++] = write_buffer(&b, g->meta[m].data, 1, g->meta[m].bytes);
    size_t buffers = fb_vec_refs(&b, refs, n_buf);
    for (size_t m = 0; m < g->n_meta; m++) {
        size_t name = fb_string(&b, g->meta[m].name);
        fb_start(&b);
        fb_field_ref(&b, 0, name);
        fb_field(&b, 1, meta_buffer0 + m, 4); /* buffer */
        refs[m] = fb_end(&b);
    }
    size_t meta = g->n_meta ? fb_vec_refs(&b, refs, g->n_meta) : 0;
    free(refs);
    uint32_t opcode[TFL_OP_KIND_COUNT];
    size_t codes = write_opcodes(&b, g, opcode);
    size_t sub = write_subgraph(&b, g, opcode);
    size_t subs = fb_vec_refs(&b, &sub, 1);
    size_t desc = fb_string(&b, g->description ? g->description : "");
    fb_start(&b);
    fb_field(&b, 0, 3, 4); /* version: schema 3 */
    fb_field_ref(&b, 1, codes);
    fb_field_ref(&b, 2, subs);
    fb_field_ref(&b, 3, desc);
    fb_field_ref(&b, 4, buffers);
    if (meta) fb_field_ref(&b, 6, meta);
    size_t model = fb_end(&b);
    /* root offset then the file identifier, the whole padded to the largest alignment */
    fb_prep(&b, b.minalign, 8);
    fb_push(&b, "TFL3", 4);
    fb_ref(&b, model);
    if (b.too_big) {
        free(b.buf);
        return opt_fail(err, errlen, "tflite: the model needs more than 2 GiB");
    }
    *out = xmalloc(b.len);
    memcpy(*out, b.buf + b.cap - b.len, b.len);
    *n = b.len;
    free(b.buf);
    return 0;
}

// ----------------------------------------------------------------------------
// the int8 MLP as a graph

/* float32 values as little-endian bytes (metadata buffers are raw bytes) */
static void put_f32_le(unsigned char *p, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (size_t k = 0; k < 4; k++) p[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
}

/* what a device feeds in, written into the file itself (Model.description) */
static void describe(const QModel *q, const char *note, char *s, size_t cap) {
    int n = snprintf(s, cap, "fedalign %s: int8 MLP %zu", FEDALIGN_VERSION, q->n_in);
    for (size_t l = 0; l + 1 < q->n_layers && n > 0 && (size_t)n < cap; l++)
        n += snprintf(s + n, cap - (size_t)n, " -> %zu", q->layer[l].fan_out);
    if (n > 0 && (size_t)n < cap)
        snprintf(s + n, cap - (size_t)n,
                 " -> %zu logits, weights %s. Input: int8 xq[i] = clamp(round_half_away((x[i] - "
                 "mean[i]) * in_mul[i]) + zero_point, -128, 127) in float32 (NaN -> -128), x the "
                 "raw features, mean and in_mul float32 little-endian in metadata "
                 "fedalign_input (mean[%zu] then in_mul[%zu]); class names in metadata "
                 "fedalign_classes. Output: int8 logits, class = argmax (lowest index on ties). "
                 "%s",
                 q->n_out, q->weights == FA_INT8_PER_TENSOR ? "per-tensor" : "per-channel",
                 q->n_in, q->n_in, note ? note : "");
}

/* the graph of q: tensor 0 the input, then per layer weights, bias, output */
static void mlp_graph(const QModel *q, TflTensor *t, TflOp *op, float *bias_scale,
                      const int64_t *zeros, int64_t *act_zp, char (*names)[32]) {
    t[0] = (TflTensor){.name = "input", .type = TFL_INT8, .shape = {1, (int32_t)q->n_in},
                       .ndim = 2, .scale = &q->in_scale, .zero_point = &act_zp[0], .n_quant = 1};
    act_zp[0] = q->in_zp;
    for (size_t l = 0; l < q->n_layers; l++) {
        const QLayer *ly = &q->layer[l];
        const int32_t fi = (int32_t)ly->fan_in, fo = (int32_t)ly->fan_out;
        const size_t nq = q->weights == FA_INT8_PER_TENSOR ? 1 : ly->fan_out;
        TflTensor *w = &t[1 + 3 * l], *b = w + 1, *o = w + 2;
        float *bs = bias_scale + l * q->max_width;
        for (size_t j = 0; j < nq; j++) bs[j] = (float)((double)ly->in_scale * ly->w_scale[j]);
        act_zp[l + 1] = ly->out_zp;
        snprintf(names[3 * l], 32, "dense_%u/weights", (unsigned)l); /* l < FA_Q_MAX_LAYERS */
        snprintf(names[3 * l + 1], 32, "dense_%u/bias", (unsigned)l);
        snprintf(names[3 * l + 2], 32, l + 1 < q->n_layers ? "dense_%u/output" : "logits", (unsigned)l);
        *w = (TflTensor){.name = names[3 * l], .type = TFL_INT8, .shape = {fo, fi}, .ndim = 2,
                         .data = ly->w, .scale = ly->w_scale, .zero_point = zeros, .n_quant = nq};
        *b = (TflTensor){.name = names[3 * l + 1], .type = TFL_INT32, .shape = {fo}, .ndim = 1,
                         .data = ly->bias, .scale = bs, .zero_point = zeros, .n_quant = nq};
        *o = (TflTensor){.name = names[3 * l + 2], .type = TFL_INT8, .shape = {1, fo}, .ndim = 2,
                         .scale = &ly->out_scale, .zero_point = &act_zp[l + 1], .n_quant = 1};
        const int32_t in = l == 0 ? 0 : (int32_t)(3 * l);
        op[l] = (TflOp){.kind = TFL_OP_FULLY_CONNECTED,
                        .in = {in, (int32_t)(1 + 3 * l), (int32_t)(2 + 3 * l)},
                        .n_in = 3,
                        .out = {(int32_t)(3 + 3 * l)},
                        .n_out = 1,
                        .act = l + 1 < q->n_layers ? TFL_ACT_RELU : TFL_ACT_NONE};
    }
}

/* the class names, one per line (metadata fedalign_classes); malloc'ed */
static char *class_lines(const DataInfo *info) {
    size_t cn = 0;
    for (size_t k = 0; k < info->k; k++) cn += strlen(info->class_names[k]) + 1;
    char *classes = xmalloc(cn + 1), *c = classes;
    classes[0] = '\0';
    for (size_t k = 0; k < info->k; k++)
        c += sprintf(c, "%s%s", info->class_names[k], k + 1 < info->k ? "\n" : "");
    return classes;
}

/* serialize g into path; *bytes (may be NULL) = the file size */
static int write_graph(const TflGraph *g, const char *path, size_t *bytes, char *err,
                       size_t errlen) {
    unsigned char *file = NULL;
    size_t n = 0;
    int rc = tfl_write(g, &file, &n, err, errlen);
    if (rc != 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) rc = opt_fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    else {
        bool bad = fwrite(file, 1, n, f) != n || ferror(f);
        if (fclose(f) != 0 || bad)
            rc = opt_fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
    }
    free(file);
    if (bytes) *bytes = n;
    return rc;
}

int export_tflite_model(const QModel *q, const DataInfo *info, const char *path, const char *note,
                        size_t *bytes, char *err, size_t errlen) {
    if (info->d != q->n_in || info->k != q->n_out)
        return opt_fail(err, errlen, "data has %zu features and %zu classes, the model %zu and %zu",
                        info->d, info->k, q->n_in, q->n_out);
    const size_t NL = q->n_layers, NT = 1 + 3 * NL;
    TflTensor t[1 + 3 * FA_Q_MAX_LAYERS];
    TflOp op[FA_Q_MAX_LAYERS];
    char names[3 * FA_Q_MAX_LAYERS][32];
    int64_t act_zp[FA_Q_MAX_LAYERS + 1];
    float *bias_scale = xmalloc(NL * q->max_width * sizeof(float));
    int64_t *zeros = xcalloc(q->max_width, sizeof(int64_t));
    mlp_graph(q, t, op, bias_scale, zeros, act_zp, names);

    /* metadata: the input step's constants and the class names */
    unsigned char *in_meta = xmalloc(8 * q->n_in);
    put_f32_le(in_meta, q->mean, q->n_in);
    put_f32_le(in_meta + 4 * q->n_in, q->in_mul, q->n_in);
    char *classes = class_lines(info);
    const TflMeta meta[2] = {{"fedalign_input", in_meta, 8 * q->n_in},
                             {"fedalign_classes", classes, strlen(classes)}};
    char desc[2048];
    describe(q, note, desc, sizeof desc);
    const int32_t gin = 0, gout = (int32_t)(NT - 1);
    const TflGraph g = {.tensors = t, .n_tensors = NT, .ops = op, .n_ops = NL, .inputs = &gin,
                        .outputs = &gout, .n_inputs = 1, .n_outputs = 1, .meta = meta,
                        .n_meta = 2, .description = desc};
    int rc = write_graph(&g, path, bytes, err, errlen);
    free(bias_scale);
    free(zeros);
    free(in_meta);
    free(classes);
    return rc;
}

// ----------------------------------------------------------------------------
// the int8 cnn1d as a graph: NHWC tensors with H = 1 (W = time, C = channels), so that a
// conv block is CONV_2D with a 1 x k filter and its pooling MAX_POOL_2D with a 1 x pool
// window, both VALID with stride 1 and pool (quant_cnn.c's len_conv, len_pool); MEAN over
// H and W with keep_dims, RESHAPE to [1, C], then the dense head as FULLY_CONNECTED

#define CNN_MAX_TENSORS (1 + 4 * FA_MAX_CONV + 4 + 3 * FA_Q_MAX_LAYERS)
#define CNN_MAX_OPS (2 * FA_MAX_CONV + 2 + FA_Q_MAX_LAYERS)

typedef struct {
    TflTensor t[CNN_MAX_TENSORS];
    TflOp op[CNN_MAX_OPS];
    char names[CNN_MAX_TENSORS][32];
    int64_t zp[CNN_MAX_TENSORS]; /* each activation tensor's zero point */
    float *bias_scale[FA_MAX_CONV + FA_Q_MAX_LAYERS];
    size_t nt, nop, nbs;
    const int64_t *zeros; /* the weights' and biases' zero points */
    int32_t axes[2], new_shape[2];
} CnnGraph;

/* a tensor named name, its quantization (if any) per tensor with zero point zp */
static int32_t cg_tensor(CnnGraph *g, const char *name, TflType type, const int32_t *shape,
                         size_t ndim, const void *data, const float *scale, int32_t zp) {
    CHECK(g->nt < CNN_MAX_TENSORS, "cnn1d graph: too many tensors");
    TflTensor *t = &g->t[g->nt];
    snprintf(g->names[g->nt], sizeof g->names[0], "%s", name);
    g->zp[g->nt] = zp;
    *t = (TflTensor){.name = g->names[g->nt], .type = type, .ndim = ndim, .data = data};
    memcpy(t->shape, shape, ndim * sizeof(int32_t));
    if (scale) t->scale = scale, t->zero_point = &g->zp[g->nt], t->n_quant = 1;
    return (int32_t)g->nt++;
}

static TflOp *cg_op(CnnGraph *g, TflOpKind kind, int32_t in0, int32_t in1, int32_t in2,
                    int32_t out) {
    CHECK(g->nop < CNN_MAX_OPS, "cnn1d graph: too many operators");
    TflOp *op = &g->op[g->nop++];
    *op = (TflOp){.kind = kind, .in = {in0, in1, in2}, .n_in = in2 >= 0 ? 3 : 2,
                  .out = {out}, .n_out = 1};
    return op;
}

/* int8 weights of shape wshape (per-channel scales along dimension 0, or one), the int32
 * bias at in_scale x w_scale, and the int8 output of shape oshape; returns the output */
static int32_t cg_layer(CnnGraph *g, const QLayer *ly, TflOpKind kind, int32_t in,
                        const int32_t *wshape, size_t wdim, const int32_t *oshape, size_t odim,
                        bool relu, const char *base, bool last, FaInt8Weights weights) {
    const size_t nq = weights == FA_INT8_PER_TENSOR ? 1 : ly->fan_out;
    float *bs = xmalloc(nq * sizeof(float));
    g->bias_scale[g->nbs++] = bs;
    for (size_t j = 0; j < nq; j++) bs[j] = (float)((double)ly->in_scale * ly->w_scale[j]);
    char name[32];
    snprintf(name, sizeof name, "%s/weights", base);
    int32_t w = cg_tensor(g, name, TFL_INT8, wshape, wdim, ly->w, NULL, 0);
    snprintf(name, sizeof name, "%s/bias", base);
    const int32_t fo = (int32_t)ly->fan_out;
    int32_t b = cg_tensor(g, name, TFL_INT32, &fo, 1, ly->bias, NULL, 0);
    g->t[w].scale = ly->w_scale;
    g->t[b].scale = bs;
    g->t[w].zero_point = g->t[b].zero_point = g->zeros;
    g->t[w].n_quant = g->t[b].n_quant = nq;
    if (last) snprintf(name, sizeof name, "logits");
    else snprintf(name, sizeof name, "%s/output", base);
    int32_t o = cg_tensor(g, name, TFL_INT8, oshape, odim, NULL, &ly->out_scale, ly->out_zp);
    TflOp *op = cg_op(g, kind, in, w, b, o);
    op->act = relu ? TFL_ACT_RELU : TFL_ACT_NONE;
    op->padding = TFL_PAD_VALID;
    op->stride_h = op->stride_w = 1;
    return o;
}

/* the conv blocks of q after the input tensor x; returns the last block's output */
static int32_t cg_conv_blocks(CnnGraph *g, const QCnn *q, int32_t x) {
    char base[32], name[32];
    for (size_t b = 0; b < q->n_conv; b++) {
        const QConv *cv = &q->conv[b];
        const int32_t co = (int32_t)cv->fc.fan_out;
        /* TFLite's filter [c_out][1][k][c_in] is quant_cnn.c's (c_out, k * c_in) */
        const int32_t ws[4] = {co, 1, (int32_t)cv->k, (int32_t)cv->c_in};
        const int32_t os[4] = {1, 1, (int32_t)cv->len_conv, co};
        snprintf(base, sizeof base, "conv_%zu", b);
        x = cg_layer(g, &cv->fc, TFL_OP_CONV_2D, x, ws, 4, os, 4, true, base, false, q->weights);
        if (q->pool > 1) { /* same scale and zero point: the int8 max is the max of reals */
            const int32_t ps[4] = {1, 1, (int32_t)cv->len_pool, co};
            snprintf(name, sizeof name, "pool_%u/output", (unsigned)b); /* b < FA_MAX_CONV */
            int32_t p = cg_tensor(g, name, TFL_INT8, ps, 4, NULL, &cv->fc.out_scale,
                                  cv->fc.out_zp);
            TflOp *op = cg_op(g, TFL_OP_MAX_POOL_2D, x, -1, -1, p);
            op->n_in = 1;
            op->padding = TFL_PAD_VALID;
            op->stride_h = op->filter_h = 1;
            op->stride_w = op->filter_w = (int32_t)q->pool;
            x = p;
        }
    }
    return x;
}

/* MEAN over H and W of x (4D, keep_dims: TFLite's integer Mean, which requantizes to the
 * mean's own scale and rounds half away from zero as kernel_mean does), RESHAPE to [1, C];
 * returns the [1, C] tensor */
static int32_t cg_mean(CnnGraph *g, const QCnn *q, int32_t x) {
    const QLayer *last = &q->conv[q->n_conv - 1].fc;
    const int32_t C = (int32_t)last->fan_out, two = 2;
    const int32_t ms[4] = {1, 1, 1, C};
    g->axes[0] = 1;
    g->axes[1] = 2;
    g->new_shape[0] = 1;
    g->new_shape[1] = C;
    int32_t ax = cg_tensor(g, "mean/axes", TFL_INT32, &two, 1, g->axes, NULL, 0);
    int32_t m = cg_tensor(g, "mean/output", TFL_INT8, ms, 4, NULL, &q->gap_scale, q->gap_zp);
    cg_op(g, TFL_OP_MEAN, x, ax, -1, m)->keep_dims = true;
    int32_t sh = cg_tensor(g, "reshape/shape", TFL_INT32, &two, 1, g->new_shape, NULL, 0);
    int32_t r = cg_tensor(g, "features", TFL_INT8, g->new_shape, 2, NULL, &q->gap_scale,
                          q->gap_zp);
    TflOp *op = cg_op(g, TFL_OP_RESHAPE, m, sh, -1, r);
    op->new_shape[0] = 1;
    op->new_shape[1] = C;
    op->new_ndim = 2;
    return r;
}

/* what a device feeds in (Model.description) */
static void describe_cnn(const QCnn *q, const char *note, char *s, size_t cap) {
    int n = snprintf(s, cap, "fedalign %s: int8 1D-CNN on a raw window of %zu steps x %zu channels",
                     FEDALIGN_VERSION, q->win_len, q->win_ch);
    for (size_t b = 0; b < q->n_conv && n > 0 && (size_t)n < cap; b++)
        n += snprintf(s + n, cap - (size_t)n, " -> conv %zu:%zu%s", q->conv[b].fc.fan_out,
                      q->conv[b].k, q->pool > 1 ? " + max-pool" : "");
    for (size_t l = 0; l < q->n_layers && n > 0 && (size_t)n < cap; l++)
        n += snprintf(s + n, cap - (size_t)n, "%s %zu", l ? " ->" : " -> mean over time ->",
                      q->layer[l].fan_out);
    if (n > 0 && (size_t)n < cap)
        snprintf(s + n, cap - (size_t)n,
                 " logits, weights %s. Input: int8 [1, 1, %zu, %zu] (NHWC, time-major), "
                 "xq[t][c] = clamp(round_half_away((x[t][c] - mean[c]) * in_mul[c]) + zero_point, "
                 "-128, 127) in float32 (NaN -> -128), x the raw window, mean and in_mul float32 "
                 "little-endian in metadata fedalign_input (mean[%zu] then in_mul[%zu], per "
                 "channel); class names in metadata fedalign_classes. Output: int8 logits, class "
                 "= argmax (lowest index on ties). %s",
                 q->weights == FA_INT8_PER_TENSOR ? "per-tensor" : "per-channel", q->win_len,
                 q->win_ch, q->win_ch, q->win_ch, note ? note : "");
}

int export_tflite_cnn(const QCnn *q, const DataInfo *info, const char *path, const char *note,
                      size_t *bytes, char *err, size_t errlen) {
    if (info->d != q->win_len * q->win_ch || info->k != q->n_out)
        return opt_fail(err, errlen, "data has %zu values and %zu classes, the model %zu and %zu",
                        info->d, info->k, q->win_len * q->win_ch, q->n_out);
    size_t maxfo = 1;
    for (size_t b = 0; b < q->n_conv; b++)
        maxfo = q->conv[b].fc.fan_out > maxfo ? q->conv[b].fc.fan_out : maxfo;
    for (size_t l = 0; l < q->n_layers; l++)
        maxfo = q->layer[l].fan_out > maxfo ? q->layer[l].fan_out : maxfo;
    CnnGraph *g = xcalloc(1, sizeof *g);
    int64_t *zeros = xcalloc(maxfo, sizeof(int64_t));
    g->zeros = zeros;
    const int32_t in_shape[4] = {1, 1, (int32_t)q->win_len, (int32_t)q->win_ch};
    int32_t x = cg_tensor(g, "input", TFL_INT8, in_shape, 4, NULL, &q->in_scale, q->in_zp);
    x = cg_mean(g, q, cg_conv_blocks(g, q, x));
    char base[32];
    for (size_t l = 0; l < q->n_layers; l++) {
        const QLayer *ly = &q->layer[l];
        const int32_t ws[2] = {(int32_t)ly->fan_out, (int32_t)ly->fan_in};
        const int32_t os[2] = {1, (int32_t)ly->fan_out};
        const bool hidden = l + 1 < q->n_layers;
        snprintf(base, sizeof base, "dense_%zu", l);
        x = cg_layer(g, ly, TFL_OP_FULLY_CONNECTED, x, ws, 2, os, 2, hidden, base, !hidden,
                     q->weights);
    }
    /* metadata: the input step's per-channel constants and the class names */
    unsigned char *in_meta = xmalloc(8 * q->win_ch);
    put_f32_le(in_meta, q->mean, q->win_ch);
    put_f32_le(in_meta + 4 * q->win_ch, q->in_mul, q->win_ch);
    char *classes = class_lines(info);
    const TflMeta meta[2] = {{"fedalign_input", in_meta, 8 * q->win_ch},
                             {"fedalign_classes", classes, strlen(classes)}};
    char desc[2048];
    describe_cnn(q, note, desc, sizeof desc);
    const int32_t gin = 0;
    const TflGraph tg = {.tensors = g->t, .n_tensors = g->nt, .ops = g->op, .n_ops = g->nop,
                         .inputs = &gin, .outputs = &x, .n_inputs = 1, .n_outputs = 1,
                         .meta = meta, .n_meta = 2, .description = desc};
    int rc = write_graph(&tg, path, bytes, err, errlen);
    for (size_t i = 0; i < g->nbs; i++) free(g->bias_scale[i]);
    free(g);
    free(zeros);
    free(in_meta);
    free(classes);
    return rc;
}
