#!/usr/bin/python3
"""Mutation runner (issue 19): plants one small bug at a time and checks the tests notice.

For each mutant of tests/mutation/mutants.tsv (file, exact search string, replacement,
the CTest arguments that should kill it, and why) it applies the replacement in a
scratch copy of the source tree, rebuilds that copy incrementally (Release), runs the
mutant's tests and records killed (some test failed), survived (all passed) or
stillborn (the mutant did not build). The file is restored before the next mutant.

The scratch copy (default $TMPDIR/fedalign-mutation) is made once per invocation with
the files' modification times kept, so a rerun rebuilds only what changed. Before any
mutant, each distinct test selection runs on the unmutated copy: a test that already
fails there would count every mutant as killed, so the runner stops instead.

A mutant whose reason starts with EQUIVALENT: cannot change any result; it still runs,
and is left out of the score. Exit status: 0 when the score (killed / non-equivalent)
reaches --min-score and every survivor is marked EQUIVALENT, 1 otherwise, 2 on a bad
list, a failed baseline build or a failing baseline test.

    /usr/bin/python3 tests/mutation/run.py                 # every mutant
    /usr/bin/python3 tests/mutation/run.py --only quant-tie-pos,round-alpha
    /usr/bin/python3 tests/mutation/run.py --list
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def die(msg):
    print("mutation: " + msg, file=sys.stderr)
    sys.exit(2)


def load(path):
    """The list: one mutant per line, tab-separated; # comments and blank lines skipped."""
    muts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 6:
                die(f"{path}:{n}: want 6 tab-separated columns (id, file, search, replace, "
                    f"ctest args, reason), got {len(cols)}")
            mid, file, search, repl, tests, why = cols
            if not search or search == repl:
                die(f"{path}:{n}: {mid}: empty search string or replacement equal to it")
            muts.append(dict(id=mid, file=file, search=search, repl=repl,
                             tests=shlex.split(tests), why=why, line=n))
    ids = [m["id"] for m in muts]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        die("duplicate mutant ids: " + ", ".join(dup))
    return muts


def check_sites(muts, src):
    """Every search string must occur exactly once in its file: fail loudly otherwise,
    so a mutant never silently tests nothing after the code moved."""
    bad = []
    for m in muts:
        p = os.path.join(src, m["file"])
        if not os.path.isfile(p):
            bad.append(f"{m['id']}: no file {m['file']}")
            continue
        k = open(p, encoding="utf-8").read().count(m["search"])
        if k != 1:
            bad.append(f"{m['id']}: search string found {k} times in {m['file']}: {m['search']!r}")
    if bad:
        die("mutants that no longer apply (fix tests/mutation/mutants.tsv):\n  " + "\n  ".join(bad))


def copy_tree(dst):
    """Copy the tracked and untracked-but-not-ignored files (what a commit would hold),
    keeping modification times so an unchanged file is not rebuilt."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                             check=True, capture_output=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith((".git", "build"))]
            files += [os.path.relpath(os.path.join(d, x), ROOT) for x in names]
    keep = set()
    for f in files:
        s, t = os.path.join(ROOT, f), os.path.join(dst, f)
        if not os.path.isfile(s):
            continue  # deleted in the work tree
        keep.add(os.path.normpath(t))
        os.makedirs(os.path.dirname(t), exist_ok=True)
        if not (os.path.exists(t) and os.path.getmtime(t) == os.path.getmtime(s)
                and open(t, "rb").read() == open(s, "rb").read()):
            shutil.copy2(s, t)
    for d, _, names in os.walk(dst):  # files removed since the last run
        for x in names:
            p = os.path.normpath(os.path.join(d, x))
            if p not in keep:
                os.remove(p)


def sh(cmd, cwd, timeout=None):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return 124, out.decode(errors="replace") if isinstance(out, bytes) else out


def build(bdir, jobs):
    return sh(["cmake", "--build", bdir, "-j", str(jobs)], cwd=bdir)


def run_tests(bdir, args, timeout):
    """ctest with the mutant's selection; the names of the tests that failed ([] = none)."""
    rc, out = sh(["ctest", "-j1", "--timeout", str(timeout), "--output-on-failure"] + args,
                 cwd=bdir, timeout=timeout * 20)
    if "No tests were found" in out:
        return None, out
    failed = re.findall(r"^\s*\d+ - (\S+) \(", out, re.M)
    if rc != 0 and not failed:
        failed = [f"ctest exit {rc}"]
    return failed, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", default=os.path.join(HERE, "mutants.tsv"))
    ap.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "fedalign-mutation"))
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=900, help="seconds per CTest test")
    ap.add_argument("--min-score", type=float, default=90.0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated test runs")
    ap.add_argument("--report", default="", help="also write the results table (TSV) here")
    ap.add_argument("--print", action="store_true", dest="show", help="print the mutants and exit")
    ap.add_argument("--check-sites", action="store_true",
                    help="only check that every search string occurs once in its file, then exit")
    a = ap.parse_args()

    muts = load(a.list)
    if a.only:
        want = a.only.split(",")
        unknown = [w for w in want if w not in {m["id"] for m in muts}]
        if unknown:
            die("unknown mutant id(s): " + ", ".join(unknown))
        muts = [m for m in muts if m["id"] in want]
    if a.show:
        for m in muts:
            print(f"{m['id']:22} {m['file']:20} {' '.join(m['tests']):30} {m['why']}")
        return 0
    check_sites(muts, ROOT)
    if a.check_sites:
        print(f"# mutation: all {len(muts)} mutant sites found once")
        return 0

    if os.geteuid() == 0:  # Open MPI refuses root without the opt-in
        os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    os.environ["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    src, bdir = os.path.join(a.scratch, "src"), os.path.join(a.scratch, "build")
    os.makedirs(bdir, exist_ok=True)
    copy_tree(src)
    check_sites(muts, src)
    rc, out = sh(["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"], cwd=a.scratch)
    if rc == 0:
        rc, out = build(bdir, a.jobs)
    if rc != 0:
        die("the unmutated copy does not build:\n" + out[-3000:])
    print(f"# mutation: {len(muts)} mutant(s), scratch {a.scratch}", flush=True)

    if not a.no_baseline:
        for sel in sorted({tuple(m["tests"]) for m in muts}):
            failed, out = run_tests(bdir, list(sel), a.timeout)
            if failed is None:
                die(f"ctest {' '.join(sel)} selects no test")
            if failed:
                die(f"baseline: ctest {' '.join(sel)} fails without any mutant ({', '.join(failed)}):\n"
                    + out[-3000:])
            print(f"# baseline ok: ctest {' '.join(sel)}", flush=True)

    rows = []
    try:
        for m in muts:
            p = os.path.join(src, m["file"])
            orig = open(p, encoding="utf-8").read()
            t0 = time.time()
            with open(p, "w", encoding="utf-8") as f:
                f.write(orig.replace(m["search"], m["repl"], 1))
            try:
                rc, out = build(bdir, a.jobs)
                if rc != 0:
                    status, by = "stillborn", "build failed"
                else:
                    failed, out = run_tests(bdir, m["tests"], a.timeout)
                    status = "killed" if failed else "survived"
                    by = ",".join(failed) if failed else "-"
            finally:
                # written back with a new mtime, so the next build recompiles it
                with open(p, "w", encoding="utf-8") as f:
                    f.write(orig)
            eq = m["why"].startswith("EQUIVALENT:")
            rows.append(dict(m, status=status, by=by, secs=time.time() - t0, eq=eq))
            print(f"{status:9} {m['id']:22} {time.time() - t0:6.0f}s  {by}", flush=True)
    finally:
        build(bdir, a.jobs)  # leave the scratch build unmutated

    scored = [r for r in rows if not r["eq"]]
    killed = sum(r["status"] == "killed" for r in scored)
    score = 100.0 * killed / len(scored) if scored else 100.0
    surv = [r for r in rows if r["status"] == "survived"]
    unexplained = [r for r in surv if not r["eq"]]
    print(f"# mutation score: {killed} of {len(scored)} killed ({score:.1f} %); "
          f"{sum(r['eq'] for r in rows)} marked equivalent; "
          f"{sum(r['status'] == 'stillborn' for r in rows)} stillborn")
    for r in surv:
        print(f"# survived: {r['id']} ({r['file']}): {r['why']}")
    for r in rows:
        if r["eq"] and r["status"] == "killed":
            print(f"# note: {r['id']} is marked EQUIVALENT but was killed by {r['by']}: fix its reason")
    if a.report:
        with open(a.report, "w", encoding="utf-8") as f:
            f.write("id\tfile\tstatus\tkilled_by\tseconds\treason\n")
            for r in rows:
                f.write(f"{r['id']}\t{r['file']}\t{r['status']}\t{r['by']}\t{r['secs']:.0f}\t{r['why']}\n")
    return 0 if score >= a.min_score and not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
