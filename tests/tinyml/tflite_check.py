#!/usr/bin/python3
"""Checks of `fedalign export --format tflite` (tests/tinyml/test_tflite.sh).

  tflite_check.py armnn MODEL.tflite ROWS.txt [CPRED.txt]
      Run MODEL.tflite with Arm NN's TfLite parser on the CpuRef backend (in a child
      process: Arm NN 20.08 aborts on some files, and one IRuntime per process) on the
      int8 inputs of ROWS.txt (`quant_ref rows`), and require its int8 logits and classes
      to equal the reference there, and the classes to equal CPRED.txt (the C export's).
      Exit 0 = all equal, 1 = a difference, 3 = Arm NN aborted or refused the file.
  tflite_check.py selfcheck MODEL.tflite ROWS.txt
      Read the flatbuffer back with an independent reader (the flatbuffers runtime's
      Table, no generated code, field numbers from the TFLite schema), check the layout
      TFLite Micro expects, and recompute the integer inference from the file's tensors
      with TFLite's reference arithmetic; also quantize the raw rows with the metadata
      "fedalign_input". Require every int8 input, logit and class to equal ROWS.txt.
"""
import math
import os
import struct
import subprocess
import sys

LOGIT_BOUND = 2  # Arm NN (float) vs TFLite/fedalign (integer) int8 logits, see armnn()


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("row "):
                continue
            kv = dict(w.split("=", 1) for w in line.split()[2:])
            rows.append({
                "x": [float.fromhex(v) for v in kv["x"].split(",")],
                "xq": [int(v) for v in kv["xq"].split(",")],
                "logits": [int(v) for v in kv["logits"].split(",")],
                "pred": int(kv["pred"]),
            })
    if not rows:
        sys.exit("no rows in %s" % path)
    return rows


def argmax(v):
    return max(range(len(v)), key=lambda k: (v[k], -k))


# ---------------------------------------------------------------------------- Arm NN

def armnn_child(model, rows_path):
    """in the child: print 'out <i> <logits>' per row"""
    import numpy as np
    import pyarmnn as ann
    parser = ann.ITfLiteParser()
    net = parser.CreateNetworkFromBinaryFile(model)
    name_in = parser.GetSubgraphInputTensorNames(0)[0]
    name_out = parser.GetSubgraphOutputTensorNames(0)[0]
    b_in = parser.GetNetworkInputBindingInfo(0, name_in)
    b_out = parser.GetNetworkOutputBindingInfo(0, name_out)
    if b_in[1].GetDataType() != ann.DataType_QAsymmS8 or b_out[1].GetDataType() != ann.DataType_QAsymmS8:
        sys.exit("input/output are not int8 (QAsymmS8) in Arm NN")
    runtime = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(opt)
    out_t = ann.make_output_tensors([b_out])
    for i, r in enumerate(read_rows(rows_path)):
        x = np.array([r["xq"]], dtype=np.int8)
        runtime.EnqueueWorkload(net_id, ann.make_input_tensors([b_in], [x]), out_t)
        y = ann.workload_tensors_to_ndarray(out_t)[0].reshape(-1)
        print("out %d %s" % (i, ",".join(str(int(v)) for v in y)), flush=True)


def armnn(model, rows_path, cpred_path=None):
    rows = read_rows(rows_path)
    p = subprocess.run([sys.executable, __file__, "armnn-child", model, rows_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        why = "killed by signal %d" % -p.returncode if p.returncode < 0 else "exit %d" % p.returncode
        err = [l for l in p.stderr.splitlines() if "Skipped" not in l and l.strip()]
        print("armnn: %s: Arm NN %s: %s" % (model, why, err[-1] if err else ""))
        return 3
    got = {}
    for line in p.stdout.splitlines():
        if line.startswith("out "):
            _, i, v = line.split()
            got[int(i)] = [int(t) for t in v.split(",")]
    cpred = None
    if cpred_path:
        with open(cpred_path) as f:
            cpred = [int(l.split()[1]) for l in f if l.startswith("c ")]
    if len(got) != len(rows) or (cpred is not None and len(cpred) != len(rows)):
        print("armnn: %d rows, Arm NN answered %d, C export %s" % (len(rows), len(got),
              len(cpred) if cpred is not None else "-"))
        return 1
    # Arm NN's CpuRef computes a layer in float (dequantize, accumulate, one rounding of
    # the result), TFLite and fedalign in integers with gemmlowp's two roundings (SRDHM,
    # then RoundingDivideByPOT): an output within ~1/64 of a rounding tie may come out
    # one step apart, and that step can carry into the next layers. So: logits within
    # LOGIT_BOUND of the reference, and the same class wherever the reference's margin
    # between its best and second-best logit exceeds twice that.
    exact = worst = bad = cbad = 0
    for i, r in enumerate(rows):
        g, ref = got[i], r["logits"]
        d = max(abs(a - b) for a, b in zip(g, ref))
        exact += d == 0
        worst = max(worst, d)
        top = sorted(ref, reverse=True)
        decided = len(ref) < 2 or top[0] - top[1] > 2 * LOGIT_BOUND
        ok = d <= LOGIT_BOUND and (argmax(g) == r["pred"] or not decided)
        cbad += argmax(g) != r["pred"]
        if cpred is not None and cpred[i] != r["pred"]:
            ok = False
        if not ok:
            bad += 1
            if bad <= 5:
                print("armnn: row %d: Arm NN logits %s, reference %s (class %d), C export %s"
                      % (i, g, ref, r["pred"], cpred[i] if cpred else "-"))
    print("ARMNN_CHECK rows=%d logits_exact_rows=%d max_logit_diff=%d class_diff_rows=%d "
          "c_export_classes=%s bound=%d failed_rows=%d" % (len(rows), exact, worst, cbad,
          "checked" if cpred is not None else "-", LOGIT_BOUND, bad))
    return 1 if bad else 0


# ---------------------------------------------------------------------------- reader

class Tab:
    """one table of the file through the flatbuffers runtime's generic Table"""

    def __init__(self, buf, pos):
        from flatbuffers import table
        self.t = table.Table(buf, pos)
        self.buf = buf

    def _o(self, slot):
        return self.t.Offset(4 + 2 * slot)

    def scalar(self, slot, fmt, default=0):
        from flatbuffers import number_types as N
        o = self._o(slot)
        flags = {"b": N.Int8Flags, "B": N.Uint8Flags, "i": N.Int32Flags, "I": N.Uint32Flags}[fmt]
        return self.t.Get(flags, o + self.t.Pos) if o else default

    def vec(self, slot, fmt):
        o = self._o(slot)
        if not o:
            return None
        n, start = self.t.VectorLen(o), self.t.Vector(o)
        size = struct.calcsize("<" + fmt)
        if start % size:
            raise ValueError("vector of %s at %d is not %d-aligned" % (fmt, start, size))
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.buf, start))

    def bytes(self, slot):
        o = self._o(slot)
        if not o:
            return b"", 0
        start = self.t.Vector(o)
        return bytes(self.buf[start:start + self.t.VectorLen(o)]), start

    def string(self, slot):
        o = self._o(slot)
        return self.t.String(o + self.t.Pos).decode() if o else None

    def tables(self, slot):
        o = self._o(slot)
        if not o:
            return []
        start = self.t.Vector(o)
        return [Tab(self.buf, self.t.Indirect(start + 4 * i)) for i in range(self.t.VectorLen(o))]

    def table(self, slot):
        o = self._o(slot)
        return Tab(self.buf, self.t.Indirect(o + self.t.Pos)) if o else None


def quantize_multiplier(m):
    """TFLite QuantizeMultiplier"""
    if m == 0.0:
        return 0, 0
    q, e = math.frexp(m)
    qf = int(math.floor(abs(q) * (1 << 31) + 0.5))
    if qf == 1 << 31:
        qf //= 2
        e += 1
    if e < -31:
        return 0, 0
    return qf, e


def mul_by_quantized_multiplier(x, mult, shift):
    """TFLite MultiplyByQuantizedMultiplier: gemmlowp SaturatingRoundingDoublingHighMul
    (C division, truncating toward zero, of a*b plus a nudge) then RoundingDivideByPOT"""
    left, right = max(shift, 0), max(-shift, 0)
    a = x * (1 << left)
    if a == mult == -2**31:
        hi = 2**31 - 1
    else:
        n = a * mult + ((1 << 30) if a * mult >= 0 else 1 - (1 << 30))
        hi = n // (1 << 31) if n >= 0 else -((-n) // (1 << 31))
    mask = (1 << right) - 1
    rem, thr = hi & mask, (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if rem > thr else 0)


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def quantize_input(x, mean, mul, zp):
    """the float input step: float32 (x - mean) * mul, round half away, clamp"""
    v = f32(f32(f32(x) - mean) * mul)
    if not v >= -1024.0:
        v = -1024.0
    v = min(v, 1024.0)
    t = int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)
    return max(-128, min(127, t + zp))


def selfcheck(model, rows_path):
    rows = read_rows(rows_path)
    buf = bytearray(open(model, "rb").read())
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    need(buf[4:8] == b"TFL3", "file identifier %r, want TFL3" % bytes(buf[4:8]))
    root = Tab(buf, struct.unpack_from("<I", buf, 0)[0])
    need(root.scalar(0, "I") == 3, "schema version %d, want 3" % root.scalar(0, "I"))
    buffers = root.tables(4)
    need(buffers and buffers[0].bytes(0)[0] == b"", "buffer 0 is not empty")
    codes = root.tables(1)
    (sub,) = root.tables(2)
    tensors, ops = sub.tables(0), sub.tables(3)

    def tensor(i):
        t = tensors[i]
        q = t.table(4)
        data = None
        if t.scalar(2, "I"):
            raw, start = buffers[t.scalar(2, "I")].bytes(0)
            need(start % 16 == 0, "buffer of %s not 16-aligned" % t.string(3))
            fmt = {9: "b", 2: "i"}[t.scalar(1, "b")]
            data = list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
        return {"name": t.string(3), "type": t.scalar(1, "b"), "shape": t.vec(0, "i"), "data": data,
                "scale": q.vec(2, "f"), "zp": q.vec(3, "q"), "qdim": q.scalar(6, "i")}

    meta = {m.string(0): buffers[m.scalar(1, "I")].bytes(0)[0] for m in root.tables(6)}
    t_in = tensor(sub.vec(1, "i")[0])
    D = t_in["shape"][1]
    need(t_in["type"] == 9 and len(t_in["scale"]) == 1, "input is not per-tensor int8")
    mean = struct.unpack("<%df" % D, meta["fedalign_input"][:4 * D])
    mul = struct.unpack("<%df" % D, meta["fedalign_input"][4 * D:])
    layers = []
    for k, op in enumerate(ops):
        code = codes[op.scalar(0, "I")]
        need(code.scalar(0, "b") == 9 and code.scalar(3, "i") == 9,
             "operator %d: builtin codes %d/%d, want FULLY_CONNECTED (9)" % (k, code.scalar(0, "b"), code.scalar(3, "i")))
        need(op.scalar(3, "B") == 8, "operator %d: options are not FullyConnectedOptions" % k)
        act = op.table(4).scalar(0, "b")
        need(act == (1 if k + 1 < len(ops) else 0), "operator %d: fused activation %d" % (k, act))
        x_t, w_t, b_t = (tensor(i) for i in op.vec(1, "i"))
        o_t = tensor(op.vec(2, "i")[0])
        fo, fi = w_t["shape"]
        nq = len(w_t["scale"])
        need(nq in (1, fo) and w_t["qdim"] == 0 and set(w_t["zp"]) == {0}, "%s: quantization" % w_t["name"])
        need(w_t["type"] == 9 and b_t["type"] == 2 and o_t["type"] == 9, "layer %d: tensor types" % k)
        for j in range(nq):
            want = f32(x_t["scale"][0] * w_t["scale"][j])
            need(abs(b_t["scale"][j] - want) <= 1e-6 * want, "%s: scale %d" % (b_t["name"], j))
        layers.append((x_t, w_t, b_t, o_t, act))
    for x_t, _, _, _, _ in layers[1:]:
        need(x_t["data"] is None, "activation %s has data" % x_t["name"])

    bad = 0
    for i, r in enumerate(rows):
        xq = [quantize_input(r["x"][j], mean[j], mul[j], t_in["zp"][0]) for j in range(D)]
        a = list(r["xq"])
        for x_t, w_t, b_t, o_t, act in layers:
            fo, fi = w_t["shape"]
            out = []
            for j in range(fo):
                acc = b_t["data"][j] + sum(w_t["data"][j * fi + c] * (a[c] - x_t["zp"][0]) for c in range(fi))
                s_w = w_t["scale"][j if len(w_t["scale"]) > 1 else 0]
                mult, shift = quantize_multiplier(x_t["scale"][0] * s_w / o_t["scale"][0])
                v = mul_by_quantized_multiplier(acc, mult, shift) + o_t["zp"][0]
                lo = o_t["zp"][0] if act == 1 else -128
                out.append(max(lo, min(127, v)))
            a = out
        if xq != r["xq"] or a != r["logits"] or argmax(a) != r["pred"]:
            bad += 1
            if bad <= 5:
                print("selfcheck: row %d: input from metadata %s reference, logits %s vs %s"
                      % (i, "==" if xq == r["xq"] else "!=", a, r["logits"]))
    for p in problems:
        print("selfcheck: %s: %s" % (model, p))
    print("selfcheck: %s: %d layers, %s weights, %d rows: int8 input, logits and classes %s"
          % (os.path.basename(model), len(layers), "per-channel" if len(layers[0][1]["scale"]) > 1 else "per-tensor",
             len(rows), "all equal" if not bad else "%d differ" % bad))
    return 1 if bad or problems else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "armnn-child" and len(sys.argv) == 4:
        armnn_child(sys.argv[2], sys.argv[3])
    elif cmd == "armnn" and len(sys.argv) in (4, 5):
        sys.exit(armnn(*sys.argv[2:]))
    elif cmd == "selfcheck" and len(sys.argv) == 4:
        sys.exit(selfcheck(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
