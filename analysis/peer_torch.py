#!/usr/bin/python3
"""peer_torch.py: the PyTorch reference for `fedalign bench` (issue 6).

The same model, batch, optimizer and FedAvg round as fedalign's defaults, in plain
idiomatic PyTorch on one thread, so anyone can rerun the comparison:

  train   a 6-64-32-6 MLP (ReLU, softmax cross-entropy), Adam(lr 3e-3, betas 0.9/0.999,
          eps 1e-8), shuffled mini-batches gathered from a (rows, 6) tensor each epoch,
          exactly the loop of fedalign's train_local(); reports samples/s.
  fedavg  one FedAvg round over C clients: each client starts from the global model with
          a fresh Adam, trains one epoch on its own rows, returns its delta; the server
          adds the sample-weighted mean delta and evaluates the new global model on the
          clients' pooled test rows (fedalign evaluates phi^r every round too);
          reports client samples trained per second of round time.

Data are standard-normal features with random labels: throughput does not depend on the
values (fedalign standardizes its inputs inside the model; that is a few FLOPs per
feature). Use Debian's interpreter, /usr/bin/python3, with python3-torch installed.
Output: a #-commented table and one line per result,
  PEER_TORCH name=train batch=32 threads=1 reps=5 min=... median=... max=... unit=samples/s
"""
import argparse
import statistics
import sys
import time

import torch


def mlp(d_in, hidden, k):
    layers, w = [], d_in
    for h in hidden:
        layers += [torch.nn.Linear(w, h), torch.nn.ReLU()]
        w = h
    layers.append(torch.nn.Linear(w, k))
    return torch.nn.Sequential(*layers)


def adam(model, lr):
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train_epochs(model, opt, x, y, batch, epochs, gen):
    """fedalign's train_local: a fresh permutation per epoch, consecutive mini-batches,
    the last one possibly short. Returns the number of samples trained."""
    lossf = torch.nn.functional.cross_entropy
    n = x.shape[0]
    done = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            done += idx.shape[0]
    return done


def bench_train(args, gen):
    model = mlp(args.inputs, args.hidden, args.classes)
    x = torch.randn(args.rows, args.inputs, generator=gen)
    y = torch.randint(0, args.classes, (args.rows,), generator=gen)
    init = {k: v.clone() for k, v in model.state_dict().items()}

    def rep(epochs):
        model.load_state_dict(init)
        opt = adam(model, args.lr)
        t0 = time.perf_counter()
        n = train_epochs(model, opt, x, y, args.batch, epochs, gen)
        return n / (time.perf_counter() - t0)

    # calibrate whole epochs so one repetition lasts about --min-time
    rate = rep(1)
    epochs = max(1, int(args.min_time * rate / args.rows + 0.999))
    for _ in range(args.warmup):
        rep(epochs)
    return [rep(epochs) for _ in range(args.reps)], epochs * args.rows


def bench_fedavg(args, gen):
    C, n_tr, n_te = args.clients, args.client_rows, args.client_test_rows
    data = [(torch.randn(n_tr, args.inputs, generator=gen),
             torch.randint(0, args.classes, (n_tr,), generator=gen)) for _ in range(C)]
    xt = torch.randn(C * n_te, args.inputs, generator=gen)
    yt = torch.randint(0, args.classes, (C * n_te,), generator=gen)
    glob = mlp(args.inputs, args.hidden, args.classes)
    local = mlp(args.inputs, args.hidden, args.classes)

    def round_once():
        t0 = time.perf_counter()
        gstate = {k: v.clone() for k, v in glob.state_dict().items()}
        acc = {k: torch.zeros_like(v) for k, v in gstate.items()}
        den, samples = 0, 0
        for x, y in data:
            local.load_state_dict(gstate)
            opt = adam(local, args.lr)
            samples += train_epochs(local, opt, x, y, args.batch, 1, gen)
            w = x.shape[0]
            with torch.no_grad():
                for k, v in local.state_dict().items():
                    acc[k].add_(v - gstate[k], alpha=float(w))
            den += w
        with torch.no_grad():
            glob.load_state_dict({k: gstate[k] + acc[k] / den for k in gstate})
            correct = (glob(xt).argmax(1) == yt).sum().item()  # global-model evaluation
        dt = time.perf_counter() - t0
        return samples / dt, dt, correct

    for _ in range(args.warmup):
        round_once()
    res = [round_once() for _ in range(args.reps)]
    return [r[0] for r in res], [r[1] for r in res], C * n_tr


def stats(v):
    return min(v), statistics.median(v), max(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="*", default=["train", "fedavg"], help="train and/or fedavg")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rows", type=int, default=4096, help="train: rows of the data set")
    ap.add_argument("--inputs", type=int, default=6)
    ap.add_argument("--hidden", type=lambda s: [int(h) for h in s.split(",")], default=[64, 32])
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per train repetition")
    ap.add_argument("--clients", type=int, default=8, help="fedavg: clients")
    ap.add_argument("--client-rows", type=int, default=120, help="fedavg: train rows per client")
    ap.add_argument("--client-test-rows", type=int, default=50, help="fedavg: test rows per client")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    for w in args.what:
        if w not in ("train", "fedavg"):
            ap.error(f"unknown benchmark '{w}' (train, fedavg)")
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    arch = "-".join(str(v) for v in [args.inputs, *args.hidden, args.classes])
    print(f"# peer_torch: torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"model {arch}, Adam lr {args.lr}, batch {args.batch}, reps {args.reps}, "
          f"warm-up {args.warmup}")
    print(f"# {'bench':<8} {'min':>12} {'median':>12} {'max':>12}  unit")
    lines = []
    if "train" in args.what:
        rates, per_rep = bench_train(args, gen)
        mn, md, mx = stats(rates)
        print(f"  {'train':<8} {mn:12.4g} {md:12.4g} {mx:12.4g}  samples/s")
        lines.append(f"PEER_TORCH name=train batch={args.batch} threads={args.threads} model={arch} "
                     f"unit=samples/s reps={args.reps} min={mn:.6g} median={md:.6g} max={mx:.6g} "
                     f"samples_per_rep={per_rep}")
    if "fedavg" in args.what:
        rates, times, samples = bench_fedavg(args, gen)
        mn, md, mx = stats(rates)
        tmn, tmd, tmx = stats(times)
        print(f"  {'fedavg':<8} {mn:12.4g} {md:12.4g} {mx:12.4g}  client samples/s "
              f"({args.clients} clients x {args.client_rows} rows, 1 epoch; round median {tmd:.4g} s)")
        lines.append(f"PEER_TORCH name=fedavg batch={args.batch} threads={args.threads} model={arch} "
                     f"clients={args.clients} client_rows={args.client_rows} unit=samples/s "
                     f"reps={args.reps} min={mn:.6g} median={md:.6g} max={mx:.6g} "
                     f"round_s_median={tmd:.6g} samples_per_round={samples}")
    for l in lines:
        print(l)
    return 0


if __name__ == "__main__":
    sys.exit(main())
