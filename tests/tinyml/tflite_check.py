#!/usr/bin/python3
"""Checks of `fedalign export --format tflite` (tests/tinyml/test_tflite.sh).

  tflite_check.py armnn MODEL.tflite ROWS.txt [CPRED.txt]
      Run MODEL.tflite with Arm NN's TfLite parser on the CpuRef backend (in a child
      process: Arm NN 20.08 aborts on some files, and one IRuntime per process) on the
      int8 inputs of ROWS.txt (`quant_ref rows`), and require its int8 logits and classes
      to equal the reference there, and the classes to equal CPRED.txt (the C export's).
      Exit 0 = all equal, 1 = a difference, 3 = Arm NN aborted or refused the file.
  tflite_check.py armnn-layers MODEL.tflite ROWS.txt
      Arm NN operator by operator (the graph's output pointed at each operator's output in
      turn): every operator's output within one step of TFLite's reference kernel applied
      to Arm NN's own input to it. Exit 0 = all within, 1 = a larger difference, 3 = Arm NN
      stopped at some operator (the ones before it checked).
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


def armnn_layers(model, rows_path):
    """Arm NN operator by operator: the file with its graph output pointed at each
    operator's output in turn (Arm NN runs the graph up to it), and every operator's Arm NN
    output against TFLite's reference kernel (run_op) on Arm NN's own input to it: within
    one step everywhere (Arm NN rounds once in float, TFLite twice in integers), so that
    what an end-to-end comparison shows is that step carried through later layers"""
    import numpy as np
    import tempfile
    rows = read_rows(rows_path)
    problems = []
    m = read_model(model, lambda cond, what: cond or problems.append(what))
    if problems:
        print("armnn-layers: %s: %s" % (model, problems[0]))
        return 1
    outs, stopped = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        for k, idx in enumerate(m["out_index"]):
            b = bytearray(m["buf"])
            struct.pack_into("<i", b, m["out_pos"], idx)
            path = os.path.join(tmp, "op%d.tflite" % k)
            open(path, "wb").write(b)
            p = subprocess.run([sys.executable, __file__, "armnn-child", path, rows_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:  # e.g. 20.08 aborts on per-channel FULLY_CONNECTED
                err = [l for l in p.stderr.splitlines() if "Skipped" not in l and l.strip()]
                stopped = "Arm NN %s on the graph up to operator %d (%s): %s" % (
                    "killed by signal %d" % -p.returncode if p.returncode < 0 else "exit %d" % p.returncode,
                    k, m["plan"][k][3]["name"], err[-1][-160:] if err else "")
                break
            outs[k] = [np.array([int(t) for t in l.split()[2].split(",")], dtype=np.int64)
                       for l in p.stdout.splitlines() if l.startswith("out ")]
            if len(outs[k]) != len(rows):
                print("armnn-layers: operator %d: %d rows of %d" % (k, len(outs[k]), len(rows)))
                return 1
    worst, line = 0, []
    for k, (c, op, ins, o_t) in enumerate(m["plan"][:len(outs)]):
        dk, ex = 0, 0
        for i, r in enumerate(rows):
            x = np.array(r["xq"], dtype=np.int64) if k == 0 else outs[k - 1][i]
            want = run_op(c, op, ins, o_t, x.reshape(ins[0]["shape"])).reshape(-1)
            d = int(np.abs(want - outs[k][i]).max())
            dk, ex = max(dk, d), ex + (d == 0)
        worst = max(worst, dk)
        line.append("%s:%d/%d" % (o_t["name"], ex, dk))
    print("ARMNN_LAYERS rows=%d operators=%d/%d max_step=%d per_operator(exact_rows/max_step)=%s"
          % (len(rows), len(outs), len(m["plan"]), worst, ",".join(line)))
    if stopped:
        print("armnn-layers: stopped: %s" % stopped)
    return 1 if worst > 1 else 3 if stopped else 0


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


# TFLite builtin codes and their options union members (schema.fbs)
FULLY_CONNECTED, CONV_2D, MAX_POOL_2D, MEAN, RESHAPE = 9, 3, 17, 40, 22
OPTIONS = {FULLY_CONNECTED: 8, CONV_2D: 1, MAX_POOL_2D: 5, MEAN: 27, RESHAPE: 17}


def requantize(acc, mult, shift):
    """mul_by_quantized_multiplier on a numpy int64 array, per-channel mult/shift arrays
    broadcast along the last axis (exact: |acc| < 2^31, mult < 2^31)"""
    import numpy as np
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    a = acc * (np.int64(1) << left)
    n = a * mult
    n = n + np.where(n >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    hi = np.where(n >= 0, n >> 31, -((-n) >> 31))  # C division: toward zero
    mask = (np.int64(1) << right) - 1
    thr = (mask >> 1) + (hi < 0)
    return (hi >> right) + ((hi & mask) > thr)


def clamp_act(v, o_t, act):
    """int8 clamp, at the output zero point under a fused ReLU (TFLite's CalculateActivationRangeQuantized)"""
    import numpy as np
    return np.clip(v, o_t["zp"][0] if act == 1 else -128, 127)


def layer_multipliers(x_t, w_t, o_t, n):
    """TFLite's per-channel multipliers: (double)s_in * (double)s_w[j] / (double)s_out"""
    import numpy as np
    ms = [quantize_multiplier(x_t["scale"][0] * w_t["scale"][j if len(w_t["scale"]) > 1 else 0]
                              / o_t["scale"][0]) for j in range(n)]
    return np.array([m for m, _ in ms], dtype=np.int64), np.array([e for _, e in ms], dtype=np.int64)


def run_op(code, op, ins, o_t, x):
    """one operator of TFLite's reference int8 kernels on x (the first input's values,
    numpy int64 in the tensor's shape); ins: the input tensors"""
    import numpy as np
    x_t = ins[0]
    if code in (FULLY_CONNECTED, CONV_2D):
        w_t, b_t = ins[1], ins[2]
        w = np.array(w_t["data"], dtype=np.int64).reshape(w_t["shape"])
        b = np.array(b_t["data"], dtype=np.int64)
        xz = x - x_t["zp"][0]
        o = op.table(4)
        if code == FULLY_CONNECTED:
            acc = b + xz.reshape(-1, w.shape[1]) @ w.T
            act = o.scalar(0, "b")
        else:  # NHWC with H = 1, VALID, stride 1, dilation 1 (checked by the caller)
            co, _, k, ci = w.shape
            xs = xz.reshape(-1, ci)
            lc = xs.shape[0] - k + 1
            win = np.stack([xs[t:t + lc] for t in range(k)], axis=1).reshape(lc, k * ci)
            acc = b + win @ w.reshape(co, k * ci).T
            act = o.scalar(3, "b")
        mult, shift = layer_multipliers(x_t, w_t, o_t, w.shape[0])
        v = requantize(acc, mult, shift) + o_t["zp"][0]
        return clamp_act(v, o_t, act).reshape(o_t["shape"])
    if code == MAX_POOL_2D:  # reference MaxPool: max of the window, then the activation clamp
        o = op.table(4)
        sw, fw, act = o.scalar(1, "i"), o.scalar(3, "i"), o.scalar(5, "b")
        ch = x.shape[-1]
        xs = x.reshape(-1, ch)
        n = (xs.shape[0] - fw) // sw + 1
        v = np.stack([xs[t * sw:t * sw + fw].max(axis=0) for t in range(n)])
        return clamp_act(v, o_t, act).reshape(o_t["shape"])
    if code == MEAN:  # reference_integer_ops::Mean (4D, axes {1, 2}, keep_dims)
        n = x.shape[1] * x.shape[2]
        acc = (x - x_t["zp"][0]).sum(axis=(1, 2))
        mult, shift = quantize_multiplier(x_t["scale"][0] / o_t["scale"][0])
        acc = requantize(acc, np.int64(mult), np.int64(shift))
        acc = np.where(acc > 0, (acc + n // 2) // n, -((-acc + n // 2) // n))
        return np.clip(acc + o_t["zp"][0], -128, 127).reshape(o_t["shape"])
    if code == RESHAPE:
        return x.reshape(o_t["shape"])
    raise ValueError("operator code %d" % code)


def check_op(k, code, op, ins, o_t, last, need):
    """the layout TFLite (Micro) needs for this operator, and the one path of its kernel
    that run_op computes"""
    need(code in OPTIONS and op.scalar(3, "B") == OPTIONS[code],
         "operator %d (code %d): options type %d" % (k, code, op.scalar(3, "B")))
    x_t = ins[0]
    need(x_t["type"] == 9 and o_t["type"] == 9 and len(x_t["scale"]) == 1 and len(o_t["scale"]) == 1,
         "operator %d: activations are not per-tensor int8" % k)
    o = op.table(4)
    if code in (FULLY_CONNECTED, CONV_2D):
        w_t, b_t = ins[1], ins[2]
        nq, fo = len(w_t["scale"]), w_t["shape"][0]
        need(nq in (1, fo) and w_t["qdim"] == 0 and set(w_t["zp"]) == {0}, "%s: quantization" % w_t["name"])
        need(w_t["type"] == 9 and b_t["type"] == 2 and len(b_t["scale"]) == nq, "operator %d: weight/bias types" % k)
        for j in range(nq):
            want = f32(x_t["scale"][0] * w_t["scale"][j])
            need(abs(b_t["scale"][j] - want) <= 1e-6 * want, "%s: scale %d" % (b_t["name"], j))
        act = o.scalar(0 if code == FULLY_CONNECTED else 3, "b")
        need(act == (0 if last else 1), "operator %d: fused activation %d" % (k, act))
    if code == CONV_2D:
        need(len(x_t["shape"]) == 4 and x_t["shape"][1] == 1 and ins[1]["shape"][1] == 1,
             "operator %d: CONV_2D is not 1 x k on H = 1" % k)
        need([o.scalar(i, "i", 1) for i in (1, 2, 4, 5)] == [1, 1, 1, 1] and o.scalar(0, "b") == 1,
             "operator %d: CONV_2D not VALID, stride 1, dilation 1" % k)
    if code == MAX_POOL_2D:
        need(o.scalar(0, "b") == 1 and o.scalar(4, "i") == 1 and o.scalar(2, "i") == 1
             and o.scalar(5, "b") == 0, "operator %d: MAX_POOL_2D not VALID 1 x n" % k)
    if code in (MAX_POOL_2D, RESHAPE):  # scale-preserving (MEAN requantizes to its own)
        need(x_t["scale"] == o_t["scale"] and x_t["zp"] == o_t["zp"], "operator %d: changes the scale" % k)
    if code == MEAN:
        need(len(x_t["shape"]) == 4 and sorted(ins[1]["data"]) == [1, 2] and o.scalar(0, "b") == 1,
             "operator %d: MEAN is not over axes {1, 2} with keep_dims (TFLite rounds differently there)" % k)


def read_model(model, need):
    """the file's input tensor, input constants and operators [(code, op, ins, out)], the
    layout checked through need(cond, what); also the buffer and the position of the
    subgraph's outputs vector (armnn_layers points it elsewhere)"""
    buf = bytearray(open(model, "rb").read())

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
                "scale": q.vec(2, "f") if q else [], "zp": q.vec(3, "q") if q else [],
                "qdim": q.scalar(6, "i") if q else 0}

    meta = {m.string(0): buffers[m.scalar(1, "I")].bytes(0)[0] for m in root.tables(6)}
    t_in = tensor(sub.vec(1, "i")[0])
    D = 1
    for d in t_in["shape"]:
        D *= d
    need(t_in["type"] == 9 and len(t_in["scale"]) == 1, "input is not per-tensor int8")
    C = len(meta["fedalign_input"]) // 8  # per feature (MLP) or per channel (cnn1d)
    mean = struct.unpack("<%df" % C, meta["fedalign_input"][:4 * C])
    mul = struct.unpack("<%df" % C, meta["fedalign_input"][4 * C:])
    need(D % C == 0 and t_in["shape"][-1] == C, "input shape %s vs %d constants" % (t_in["shape"], C))
    plan = []
    for k, op in enumerate(ops):
        code = codes[op.scalar(0, "I")]
        c = code.scalar(3, "i")
        need(code.scalar(0, "b") == c, "operator %d: builtin codes %d/%d differ" % (k, code.scalar(0, "b"), c))
        ins = [tensor(i) for i in op.vec(1, "i")]
        o_t = tensor(op.vec(2, "i")[0])
        check_op(k, c, op, ins, o_t, k + 1 == len(ops), need)
        need(ins[0]["data"] is None and o_t["data"] is None, "operator %d: activation has data" % k)
        plan.append((c, op, ins, o_t))
    need(sub.vec(2, "i")[0] == ops[-1].vec(2, "i")[0], "the graph's output is not the last operator's")
    out_pos = sub.t.Vector(sub.t.Offset(4 + 2 * 2))
    return {"input": t_in, "D": D, "C": C, "mean": mean, "mul": mul, "plan": plan,
            "buf": buf, "out_pos": out_pos, "out_index": [op.vec(2, "i")[0] for op in ops]}


def selfcheck(model, rows_path):
    import numpy as np
    rows = read_rows(rows_path)
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    m = read_model(model, need)
    t_in, D, C, mean, mul, plan = m["input"], m["D"], m["C"], m["mean"], m["mul"], m["plan"]
    kinds = [c for c, _, _, _ in plan]
    bad = 0
    for i, r in enumerate(rows):
        xq = [quantize_input(r["x"][j], mean[j % C], mul[j % C], t_in["zp"][0]) for j in range(D)]
        a = np.array(r["xq"], dtype=np.int64).reshape(t_in["shape"])
        for c, op, ins, o_t in plan:
            a = run_op(c, op, ins, o_t, a)
        a = [int(v) for v in a.reshape(-1)]
        if xq != r["xq"] or a != r["logits"] or argmax(a) != r["pred"]:
            bad += 1
            if bad <= 5:
                print("selfcheck: row %d: input from metadata %s reference, logits %s vs %s"
                      % (i, "==" if xq == r["xq"] else "!=", a, r["logits"]))
    for p in problems:
        print("selfcheck: %s: %s" % (model, p))
    names = {FULLY_CONNECTED: "FULLY_CONNECTED", CONV_2D: "CONV_2D", MAX_POOL_2D: "MAX_POOL_2D",
             MEAN: "MEAN", RESHAPE: "RESHAPE"}
    w0 = next(ins[1] for c, _, ins, _ in plan if c in (FULLY_CONNECTED, CONV_2D))
    print("selfcheck: %s: %d operators (%s), %s weights, %d rows: int8 input, logits and classes %s"
          % (os.path.basename(model), len(plan), " ".join(names.get(c, str(c)) for c in kinds),
             "per-channel" if len(w0["scale"]) > 1 else "per-tensor",
             len(rows), "all equal" if not bad else "%d differ" % bad))
    return 1 if bad or problems else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "armnn-child" and len(sys.argv) == 4:
        armnn_child(sys.argv[2], sys.argv[3])
    elif cmd == "armnn" and len(sys.argv) in (4, 5):
        sys.exit(armnn(*sys.argv[2:]))
    elif cmd == "armnn-layers" and len(sys.argv) == 4:
        sys.exit(armnn_layers(*sys.argv[2:]))
    elif cmd == "selfcheck" and len(sys.argv) == 4:
        sys.exit(selfcheck(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
