#!/usr/bin/python3
"""peer_torch.py: the PyTorch peers for `fedalign bench` (issues 6, 17 and 20).

The same model, batch, optimizer and FedAvg round as fedalign's defaults, in plain
PyTorch on one thread (samples/s are per core), so anyone can rerun the comparison:

  train        a 6-64-32-6 MLP (ReLU, softmax cross-entropy), Adam(lr 3e-3, betas
               0.9/0.999, eps 1e-8), on one data set of --rows rows: a fresh permutation
               per epoch, consecutive mini-batches, the last one possibly short (fedalign's
               train_local()).
  fedavg       one FedAvg round over --clients clients: each client starts from the global
               model with a fresh Adam, trains one epoch, returns its delta; the server adds
               the sample-weighted mean delta and evaluates the new global model on the
               pooled test rows (fedalign evaluates phi^r every round too).
  fedavg-batched  the same round with the clients trained as in `batched` below and the
               mean delta summed over the client axis.
  clients      the per-client peer: --group clients of --group-rows rows (or --group-sizes),
               trained one after another from the same start, each with its own Adam and
               shuffles, the way a simulation loop over clients does it.
  batched      the client-batched peer: the same clients, data, shuffles and optimizer, all
               clients at once. Parameters are stacked over a leading client dimension and
               the layers are batched matmuls (torch.baddbmm); one Adam over the stacked
               parameters equals one Adam per client because Adam is elementwise. Clients of
               different sizes: they are ordered by their number of steps, and each step
               trains the prefix of clients that still have a mini-batch (clients finishing
               early drop out, so every client in a step is at the same Adam step); short
               last batches are masked by per-row loss weights (1/b for real rows, 0 for
               padding), which gives each client its own mean loss.
  cnn-clients  the 1D-CNN of `--model cnn1d` (--conv 16:7,32:5: conv1d + ReLU + max-pool 2
               per block, global average pooling, dense head) on windows of --window x
               --channels, per client as `clients`.
  cnn-batched  the same CNN client-batched: client g's window channels are channels
               g*C..(g+1)*C of one input and each conv is one grouped conv (groups = the
               clients), the head a batched matmul.
  selftest     checks that the batched trainers are the per-client training: 2 clients
               (equal sizes, then unequal with short last batches over 2 epochs), MLP and
               CNN; each client's parameters after training must equal the per-client
               loop's to float tolerance, and so must the global model after one
               `fedavg` and one `fedavg-batched` round (exit 1 otherwise).

FLOPs per sample come from analysis/flops.py (fedalign's counting rule). Data are standard
normal with random labels: throughput does not depend on the values. Use Debian's
interpreter, /usr/bin/python3, with python3-torch installed.
Output: a #-commented table and one line per result (rates per wall second; cpu_median
per CPU second of the process; with one thread both are per core),
  PEER_TORCH name=batched model=mlp arch=6-64-32-6 batch=32 threads=1 clients=16 rows=600
    unit=samples/s reps=5 min=... median=... max=... flop_per_sample=14976 gflops=...
    samples_per_rep=... cpu_median=...
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from flops import cnn_flops, conv_shapes, mlp_flops


def parse_conv(s):
    """'16:7,32:5' -> [(16, 7), (32, 5)]"""
    try:
        convs = [tuple(int(v) for v in blk.split(":")) for blk in s.split(",") if blk]
    except ValueError:
        convs = None
    if not convs or any(len(c) != 2 or min(c) < 1 for c in convs):
        raise argparse.ArgumentTypeError(f"--conv wants blocks CHANNELS:KERNEL, e.g. 16:7,32:5, got '{s}'")
    return convs


def int_list(s):
    return [int(v) for v in s.split(",") if v]


# ---------------------------------------------------------------- models (per client)

def mlp(d_in, hidden, k):
    layers, w = [], d_in
    for h in hidden:
        layers += [torch.nn.Linear(w, h), torch.nn.ReLU()]
        w = h
    layers.append(torch.nn.Linear(w, k))
    return torch.nn.Sequential(*layers)


class CNN1d(torch.nn.Module):
    """conv1d + ReLU + max-pool 2 blocks, global average pooling, dense head; x: [N, C, L]"""

    def __init__(self, channels, convs, hidden, k, pad):
        super().__init__()
        blocks, c = [], channels
        for co, kw in convs:
            blocks += [torch.nn.Conv1d(c, co, kw, padding=0 if pad == "valid" else kw // 2),
                       torch.nn.ReLU(), torch.nn.MaxPool1d(2)]
            c = co
        self.conv = torch.nn.Sequential(*blocks)
        self.head = mlp(c, hidden, k)

    def forward(self, x):
        return self.head(self.conv(x).mean(2))


def adam(model, lr):
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train_epochs(model, opt, x, y, batch, perms):
    """fedalign's train_local: one permutation per epoch (perms), consecutive mini-batches,
    the last one possibly short; the rows are gathered once per epoch. Returns samples."""
    done = 0
    for perm in perms:
        xp, yp = x[perm], y[perm]
        for s in range(0, x.shape[0], batch):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xp[s:s + batch]), yp[s:s + batch]).backward()
            opt.step()
            done += min(batch, x.shape[0] - s)
    return done


# ---------------------------------------------------------------- client-batched models

def stack_params(model, G):
    """every parameter of model repeated for G clients: [G, *shape], in parameters() order"""
    return [p.detach().unsqueeze(0).repeat(G, *[1] * p.dim()).requires_grad_() for p in model.parameters()]


def _pre(t, g):
    return t if g == t.shape[0] else t[:g]  # a full slice would cost a copy in backward


def dense_batched(ps, h, g):
    """stacked Linear layers (weight [G, out, in], bias [G, out]) on h [g, B, in]"""
    n = len(ps) // 2
    for l in range(n):
        w, b = _pre(ps[2 * l], g), _pre(ps[2 * l + 1], g)
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if l < n - 1:
            h = torch.relu(h)
    return h


def cnn_batched(ps, x, g, n_conv, pad):
    """x [B, g*C, L]: client g's channels are g*C..(g+1)*C; grouped convs, then the head"""
    h = x
    for l in range(n_conv):
        w, b = _pre(ps[2 * l], g), _pre(ps[2 * l + 1], g)
        co, ci, kw = w.shape[1:]
        h = F.conv1d(h, w.reshape(g * co, ci, kw), b.reshape(g * co),
                     padding=0 if pad == "valid" else kw // 2, groups=g)
        h = F.max_pool1d(torch.relu(h), 2)
    h = h.mean(2)
    h = h.view(h.shape[0], g, -1).transpose(0, 1)  # [g, B, C_last]
    return dense_batched(ps[2 * n_conv:], h, g)


class StackedAdam:
    """Adam over stacked parameters, torch.optim.Adam's arithmetic (single-tensor path) with
    foreach ops; step(g) updates the first g clients, which are all at the same step."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.p, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, g):
        self.t += 1
        b1, b2 = self.betas
        p = [_pre(q, g) for q in self.p]
        gr = [_pre(q.grad, g) for q in self.p]
        m, v = [_pre(q, g) for q in self.m], [_pre(q, g) for q in self.v]
        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, gr, alpha=1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, gr, gr, 1 - b2)
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(p, m, denom, -self.lr / bc1)


def client_perms(sizes, epochs, gen):
    """perms[g][e]: client g's permutation in epoch e (drawn client by client)"""
    return [[torch.randperm(n, generator=gen) for _ in range(epochs)] for n in sizes]


def batched_steps(xs, ys, perms, batch, cnn):
    """the clients' mini-batches laid out per step: X [G, S, B, ...] (MLP) or [S, B, G, ...]
    (CNN, so that a step's input is one view), labels and loss weights [G, S, B] (1/b for
    the b real rows of a mini-batch, 0 for padding), and active[s] = clients with step s.
    Clients must come ordered by decreasing number of steps."""
    G, feat = len(xs), xs[0].shape[1:]
    nsteps = [len(p) * math.ceil(x.shape[0] / batch) for x, p in zip(xs, perms)]
    assert nsteps == sorted(nsteps, reverse=True), "clients must be ordered by steps"
    S = nsteps[0]
    X = torch.zeros((S, batch, G, *feat) if cnn else (G, S, batch, *feat))
    Y = torch.zeros(G, S, batch, dtype=torch.long)
    W = torch.zeros(G, S, batch)
    for g, (x, y) in enumerate(zip(xs, ys)):
        n, nb, s0 = x.shape[0], math.ceil(x.shape[0] / batch), 0
        pad = nb * batch - n
        wrow = torch.full((nb, batch), 1.0 / batch)
        if pad:
            wrow[-1, :batch - pad] = 1.0 / (batch - pad)
            wrow[-1, batch - pad:] = 0.0
        for perm in perms[g]:
            idx = torch.cat([perm, perm.new_zeros(pad)]) if pad else perm  # padding: row 0, weight 0
            xb = x[idx].view(nb, batch, *feat)
            if cnn:
                X[s0:s0 + nb, :, g] = xb
            else:
                X[g, s0:s0 + nb] = xb
            Y[g, s0:s0 + nb] = y[idx].view(nb, batch)
            W[g, s0:s0 + nb] = wrow
            s0 += nb
    active = [sum(1 for k in nsteps if k > s) for s in range(S)]
    return X, Y, W, active


def train_batched(ps, fwd, steps, opt, cnn):
    X, Y, W, active = steps
    for s, g in enumerate(active):
        for p in ps:
            p.grad = None
        if cnn:
            xb = X[s, :, :g]
            x = xb.reshape(xb.shape[0], g * xb.shape[2], xb.shape[3])
        else:
            x = X[:g, s]
        logits = fwd(ps, x, g)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y[:g, s].reshape(-1), reduction="none")
        (ce * W[:g, s].reshape(-1)).sum().backward()
        opt.step(g)


# ---------------------------------------------------------------- the two ways to train G clients

class Clients:
    """G clients' data (ordered by decreasing steps), a start model and the two trainers"""

    def __init__(self, args, sizes, cnn, gen):
        self.args, self.cnn = args, cnn
        if cnn:
            self.model = CNN1d(args.channels, args.conv, args.cnn_hidden, args.cnn_classes, args.pad)
            shape, k = (args.channels, args.window), args.cnn_classes
        else:
            self.model = mlp(args.inputs, args.hidden, args.classes)
            shape, k = (args.inputs,), args.classes
        steps = [math.ceil(n / args.batch) for n in sizes]
        self.order = sorted(range(len(sizes)), key=lambda g: -steps[g])  # stable
        self.sizes = [sizes[g] for g in self.order]
        self.xs = [torch.randn(n, *shape, generator=gen) for n in self.sizes]
        self.ys = [torch.randint(0, k, (n,), generator=gen) for n in self.sizes]
        self.init = {k: v.clone() for k, v in self.model.state_dict().items()}

    def per_client(self, epochs, gen):
        """returns (samples, [each client's parameters after training])"""
        perms = client_perms(self.sizes, epochs, gen)
        done, out = 0, []
        for x, y, p in zip(self.xs, self.ys, perms):
            self.model.load_state_dict(self.init)
            done += train_epochs(self.model, adam(self.model, self.args.lr), x, y, self.args.batch, p)
            out.append([q.detach().clone() for q in self.model.parameters()])
        return done, out

    def batched(self, epochs, gen):
        """returns (samples, stacked parameters [G, ...] after training)"""
        a = self.args
        perms = client_perms(self.sizes, epochs, gen)
        self.model.load_state_dict(self.init)
        ps = stack_params(self.model, len(self.sizes))
        if self.cnn:
            n_conv = len(a.conv)
            fwd = lambda ps_, x, g: cnn_batched(ps_, x, g, n_conv, a.pad)  # noqa: E731
        else:
            fwd = dense_batched
        steps = batched_steps(self.xs, self.ys, perms, a.batch, self.cnn)
        train_batched(ps, fwd, steps, StackedAdam(ps, a.lr), self.cnn)
        return sum(self.sizes) * epochs, [p.detach() for p in ps]


# ---------------------------------------------------------------- benchmarks

def timed_reps(args, run, rows):
    """calibrate whole epochs so one repetition lasts about --min-time, then warm-up + reps;
    returns the rates per wall second and per CPU second of the process (what the core
    delivered while we held it, as fedalign's cpu_median), and the samples per repetition"""
    def rep(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        n = run(epochs)
        return n / (time.perf_counter() - t0), n / max(time.process_time() - c0, 1e-9)
    epochs = max(1, math.ceil(args.min_time * rep(1)[0] / rows))
    for _ in range(args.warmup):
        rep(epochs)
    res = [rep(epochs) for _ in range(args.reps)]
    return [r[0] for r in res], [r[1] for r in res], epochs * rows


def bench_train(args, gen):
    model = mlp(args.inputs, args.hidden, args.classes)
    x = torch.randn(args.rows, args.inputs, generator=gen)
    y = torch.randint(0, args.classes, (args.rows,), generator=gen)
    init = {k: v.clone() for k, v in model.state_dict().items()}

    def run(epochs):
        model.load_state_dict(init)
        perms = [torch.randperm(args.rows, generator=gen) for _ in range(epochs)]
        return train_epochs(model, adam(model, args.lr), x, y, args.batch, perms)
    return timed_reps(args, run, args.rows)


def bench_fedavg(args, gen, batched=False):
    """one FedAvg round per repetition; batched: the clients train as in `batched` (all
    equal-sized, from the global model) and the mean delta is a sum over the client axis"""
    C, n_tr, n_te = args.clients, args.client_rows, args.client_test_rows
    data = [(torch.randn(n_tr, args.inputs, generator=gen),
             torch.randint(0, args.classes, (n_tr,), generator=gen)) for _ in range(C)]
    xt = torch.randn(C * n_te, args.inputs, generator=gen)
    yt = torch.randint(0, args.classes, (C * n_te,), generator=gen)
    glob = mlp(args.inputs, args.hidden, args.classes)
    local = mlp(args.inputs, args.hidden, args.classes)
    if batched:
        cl = Clients(args, [n_tr] * C, False, torch.Generator())  # its own data replaced below
        cl.xs, cl.ys = [x for x, _ in data], [y for _, y in data]

    def train_clients(gstate):
        """returns (samples, sample-weighted mean delta per state_dict key)"""
        if batched:
            cl.init = gstate  # every client starts from the global model
            samples, ps = cl.batched(1, gen)
            with torch.no_grad():
                return samples, {k: (p - gstate[k]).sum(0).mul_(n_tr / (C * n_tr)) for k, p in zip(gstate, ps)}
        acc = {k: torch.zeros_like(v) for k, v in gstate.items()}
        den, samples = 0, 0
        for x, y in data:
            local.load_state_dict(gstate)
            perm = [torch.randperm(n_tr, generator=gen)]
            samples += train_epochs(local, adam(local, args.lr), x, y, args.batch, perm)
            with torch.no_grad():
                for k, v in local.state_dict().items():
                    acc[k].add_(v - gstate[k], alpha=float(n_tr))
            den += n_tr
        return samples, {k: acc[k] / den for k in acc}

    def round_once():
        t0, c0 = time.perf_counter(), time.process_time()
        gstate = {k: v.clone() for k, v in glob.state_dict().items()}
        samples, delta = train_clients(gstate)
        with torch.no_grad():
            glob.load_state_dict({k: gstate[k] + delta[k] for k in gstate})
            (glob(xt).argmax(1) == yt).sum().item()  # the global-model evaluation of every round
        dt = time.perf_counter() - t0
        return samples / dt, dt, samples / max(time.process_time() - c0, 1e-9)

    for _ in range(args.warmup):
        round_once()
    res = [round_once() for _ in range(args.reps)]
    return [r[0] for r in res], [r[2] for r in res], [r[1] for r in res], C * n_tr, glob


def group_sizes(args):
    return args.group_sizes or [args.group_rows] * args.group


def bench_group(args, gen, cnn, batched):
    cl = Clients(args, group_sizes(args), cnn, gen)
    run = (lambda e: cl.batched(e, gen)[0]) if batched else (lambda e: cl.per_client(e, gen)[0])
    return timed_reps(args, run, sum(cl.sizes))


# ---------------------------------------------------------------- self-test

def selftest_case(args, gen, cnn, sizes, epochs, tol):
    """per-client loop vs batched on the same clients, data and shuffles; returns
    (ok, max |diff|, min over clients of max |change from the start|, line)"""
    cl = Clients(args, sizes, cnn, gen)
    state = gen.get_state()
    _, ref = cl.per_client(epochs, gen)
    gen.set_state(state)  # the batched trainer draws the same permutations
    _, got = cl.batched(epochs, gen)
    cl.model.load_state_dict(cl.init)
    start = [p.detach().clone() for p in cl.model.parameters()]
    diff = max((r - s[g]).abs().max().item() for g, rp in enumerate(ref) for r, s in zip(rp, got))
    moved = min(max((r - s0).abs().max().item() for r, s0 in zip(rp, start)) for rp in ref)
    apart = max((a - b).abs().max().item() for a, b in zip(ref[0], ref[1]))
    ok = diff <= tol and moved > 100 * tol and apart > 100 * tol
    sz = ",".join(str(n) for n in sizes)
    line = (f"PEER_TORCH name=selftest model={'cnn' if cnn else 'mlp'} sizes={sz} batch={args.batch} "
            f"epochs={epochs} max_abs_diff={diff:.3g} tol={tol:g} min_moved={moved:.3g} "
            f"clients_apart={apart:.3g} ok={int(ok)}")
    return ok, line


def selftest(args, gen):
    """MLP at the default shape and a small CNN; equal sizes for 1 epoch, unequal sizes
    with short last batches (clients finishing early) for 2 epochs"""
    small = argparse.Namespace(**vars(args))
    small.window, small.channels, small.conv, small.cnn_hidden = 64, 2, [(4, 5), (8, 3)], [8]
    small.batch = 8
    cases = [(args, False, [args.group_rows] * 2, 1), (args, False, [200, 75], 2),
             (small, True, [40, 40], 1), (small, True, [40, 19], 2)]
    ok_all, lines = True, []
    for a, cnn, sizes, ep in cases:
        ok, line = selftest_case(a, gen, cnn, sizes, ep, args.tol)
        ok_all &= ok
        lines.append(line)
    # one FedAvg round both ways from the same global model, data and shuffles
    one = argparse.Namespace(**vars(args))
    one.reps, one.warmup, glob = 1, 0, []
    for batched in (False, True):
        torch.manual_seed(args.seed)  # the global model's initialization
        glob.append(list(bench_fedavg(one, torch.Generator().manual_seed(args.seed), batched)[4].parameters()))
    diff = max((a - b).abs().max().item() for a, b in zip(*glob))
    torch.manual_seed(args.seed)
    start = mlp(args.inputs, args.hidden, args.classes).parameters()
    moved = max((a - s0).abs().max().item() for a, s0 in zip(glob[0], start))
    ok = diff <= args.tol and moved > 100 * args.tol
    ok_all &= ok
    lines.append(f"PEER_TORCH name=selftest model=mlp round=fedavg clients={args.clients} "
                 f"client_rows={args.client_rows} max_abs_diff={diff:.3g} tol={args.tol:g} moved={moved:.3g} ok={int(ok)}")
    return ok_all, lines


# ---------------------------------------------------------------- main

def stats(v):
    return min(v), statistics.median(v), max(v)


def result_line(args, name, model, arch, fps, rates, cpu_rates, per_rep, extra=""):
    mn, md, mx = stats(rates)
    cmd = statistics.median(cpu_rates)
    print(f"  {name:<14} {mn:12.4g} {md:12.4g} {mx:12.4g}  samples/s {md * fps * 1e-9:8.3f} GFLOP/s, "
          f"per CPU-s {cmd:.4g}")
    return (f"PEER_TORCH name={name} model={model} arch={arch} batch={args.batch} threads={args.threads} "
            f"{extra}unit=samples/s reps={args.reps} min={mn:.6g} median={md:.6g} max={mx:.6g} "
            f"flop_per_sample={fps} gflops={md * fps * 1e-9:.4g} samples_per_rep={per_rep} cpu_median={cmd:.6g}")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    what = ("train", "fedavg", "fedavg-batched", "clients", "batched", "cnn-clients", "cnn-batched", "selftest")
    ap.add_argument("what", nargs="*", default=["train", "fedavg", "clients", "batched"],
                    help=f"benchmarks to run: {', '.join(what)} (default: train fedavg clients batched)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rows", type=int, default=4096, help="train: rows of the data set")
    ap.add_argument("--inputs", type=int, default=6)
    ap.add_argument("--hidden", type=int_list, default=[64, 32])
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition (whole epochs)")
    ap.add_argument("--clients", type=int, default=8, help="fedavg: clients")
    ap.add_argument("--client-rows", type=int, default=120, help="fedavg: train rows per client")
    ap.add_argument("--client-test-rows", type=int, default=50, help="fedavg: test rows per client")
    ap.add_argument("--group", type=int, default=16, help="clients/batched: clients")
    ap.add_argument("--group-rows", type=int, default=600, help="clients/batched: rows per client")
    ap.add_argument("--group-sizes", type=int_list, default=None,
                    help="clients/batched: rows of each client, e.g. 600,300,450 (unequal sizes)")
    ap.add_argument("--window", type=int, default=1024, help="cnn: window length L")
    ap.add_argument("--channels", type=int, default=1, help="cnn: window channels C")
    ap.add_argument("--conv", type=parse_conv, default=[(16, 7), (32, 5)], help="cnn: blocks C_OUT:K,...")
    ap.add_argument("--pad", choices=("valid", "same"), default="valid", help="cnn: conv padding")
    ap.add_argument("--cnn-hidden", type=int_list, default=[], help="cnn: dense head hidden widths")
    ap.add_argument("--cnn-classes", type=int, default=10, help="cnn: classes (mechanical data: 10)")
    ap.add_argument("--tol", type=float, default=1e-5, help="selftest: max |parameter difference|")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    for w in args.what:
        if w not in what:
            ap.error(f"unknown benchmark '{w}' ({', '.join(what)})")
    if args.group_sizes is not None and (not args.group_sizes or min(args.group_sizes) < 1):
        ap.error("--group-sizes wants positive row counts")
    if min(args.batch, args.group, args.group_rows, args.reps, args.window, args.channels) < 1:
        ap.error("--batch, --group, --group-rows, --reps, --window and --channels must be >= 1")
    try:
        conv_shapes(args.window, args.channels, args.conv, args.pad)
    except ValueError as e:
        ap.error(str(e))
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    arch = "-".join(str(v) for v in [args.inputs, *args.hidden, args.classes])
    carch = (f"{args.window}x{args.channels}:{','.join(f'{c}:{k}' for c, k in args.conv)}:"
             f"{'-'.join(str(h) for h in [*args.cnn_hidden, args.cnn_classes])}:{args.pad}")
    mfl = mlp_flops([args.inputs, *args.hidden, args.classes])
    cfl = cnn_flops(args.window, args.channels, args.conv, args.cnn_hidden, args.cnn_classes, args.pad)
    sizes = group_sizes(args)
    grp = f"clients={len(sizes)} rows={','.join(str(n) for n in sizes) if args.group_sizes else sizes[0]} "
    print(f"# peer_torch: torch {torch.__version__}, threads {torch.get_num_threads()}, MLP {arch} "
          f"({mfl} FLOP/sample), CNN {carch} ({cfl} FLOP/sample), Adam lr {args.lr}, batch {args.batch}, "
          f"reps {args.reps}, warm-up {args.warmup}; clients/batched: {grp.strip()}")
    print(f"# {'bench':<14} {'min':>12} {'median':>12} {'max':>12}  unit")
    lines, ok = [], True
    for w in args.what:
        if w == "train":
            rates, crates, per_rep = bench_train(args, gen)
            lines.append(result_line(args, "train", "mlp", arch, mfl, rates, crates, per_rep))
        elif w in ("fedavg", "fedavg-batched"):
            rates, crates, times, samples, _ = bench_fedavg(args, gen, w == "fedavg-batched")
            extra = f"clients={args.clients} client_rows={args.client_rows} "
            lines.append(result_line(args, w, "mlp", arch, mfl, rates, crates, samples, extra)
                         + f" round_s_median={statistics.median(times):.6g}")
        elif w == "selftest":
            good, ls = selftest(args, gen)
            ok &= good
            lines += ls
        else:
            cnn, batched = w.startswith("cnn-"), w.endswith("batched")
            rates, crates, per_rep = bench_group(args, gen, cnn, batched)
            lines.append(result_line(args, w, "cnn" if cnn else "mlp", carch if cnn else arch,
                                     cfl if cnn else mfl, rates, crates, per_rep, grp))
    for l in lines:
        print(l)
    if not ok:
        print("peer_torch: selftest FAILED: the batched trainer differs from the per-client loop",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
