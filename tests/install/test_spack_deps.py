#!/usr/bin/env python3
"""The Spack package's dependencies match what the CMake build looks for.

Reads every find_package/find_path/find_library/find_program of the build's CMake files
(CMakeLists.txt, cmake/*.cmake, tests/**/CMakeLists.txt but the install consumer, which
finds fedalign itself) and, without Spack, the depends_on calls, the cmake_finds table and
cmake_args of packaging/spack/packages/fedalign/package.py. Fails when a find has no row
in cmake_finds, a row's package has no depends_on, a depends_on (but the build tools) is
reached by no find, or a FEDALIGN_* option() is not set by cmake_args. It first checks
that it fails on a CMakeLists.txt with one find_package more.

usage: test_spack_deps.py [SOURCE_DIR]
"""
import ast
import pathlib
import re
import sys

BUILD_TOOLS = {"c", "cmake"}  # build tools the CMake files do not find by name
FIND = re.compile(r"^\s*find_(package|path|library|program)\s*\(([^)]*)\)", re.M | re.I)
KEYWORDS = {"NAMES", "HINTS", "PATHS", "PATH_SUFFIXES", "REQUIRED", "QUIET", "CONFIG",
            "COMPONENTS", "NO_DEFAULT_PATH", "DOC"}


def cmake_files(src):
    files = [src / "CMakeLists.txt", *sorted((src / "cmake").glob("*.cmake"))]
    files += [p for p in sorted((src / "tests").rglob("CMakeLists.txt"))
              if p.parent.name != "install"]
    return files


def finds(text):
    """The names a CMake text looks for: a package name, or the files of a find_path /
    find_library / find_program (after its result variable)."""
    out = set()
    for kind, args in FIND.findall(text):
        words = args.split()
        if kind.lower() == "package":
            out.add(words[0])
        else:
            out.update(w for w in words[1:] if w not in KEYWORDS and not w.startswith("$"))
    return out


def package(path):
    tree = ast.parse(path.read_text())
    deps, table, args_src = set(), None, ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "depends_on":
            spec = node.args[0].value
            deps.add(re.match(r"[a-z0-9-]+", spec).group(0))
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "cmake_finds":
            table = ast.literal_eval(node.value)
        if isinstance(node, ast.FunctionDef) and node.name == "cmake_args":
            args_src = ast.get_source_segment(path.read_text(), node)
    return deps, table, args_src


def check(cmake_texts, options, pkg_path):
    deps, table, args_src = package(pkg_path)
    errors = []
    if table is None:
        return ["package.py has no cmake_finds table"]
    wanted = set()
    for text in cmake_texts:
        wanted |= finds(text)
    for name in sorted(wanted - set(table)):
        errors.append(f"CMake finds '{name}' but package.py's cmake_finds has no row for it "
                      "(add its depends_on and the row)")
    for name in sorted(wanted & set(table)):
        if table[name] and table[name] not in deps:
            errors.append(f"CMake finds '{name}' ({table[name]}) but package.py has no "
                          f"depends_on('{table[name]}')")
    reached = {table[n] for n in wanted if n in table}
    for dep in sorted(deps - reached - BUILD_TOOLS - {"llvm-openmp"}):
        errors.append(f"package.py depends_on('{dep}') but no CMake find needs it")
    for opt in options:
        if opt not in args_src:
            errors.append(f"option {opt} of CMakeLists.txt is not set by cmake_args")
    return errors


def main():
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                       pathlib.Path(__file__).resolve().parents[2])
    pkg = src / "packaging/spack/packages/fedalign/package.py"
    texts = [p.read_text() for p in cmake_files(src)]
    options = re.findall(r"^\s*option\s*\(\s*(FEDALIGN_\w+)", texts[0], re.M)
    # the check must be able to fail: one more find_package in CMakeLists.txt
    if not check([texts[0] + "\nfind_package(Foo)\n", *texts[1:]], options, pkg):
        print("FAIL: an added find_package(Foo) went unnoticed")
        return 1
    errors = check(texts, options, pkg)
    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    deps, _, _ = package(pkg)
    print(f"ok: {len(finds(''.join(texts)))} CMake finds, {len(deps)} depends_on, "
          f"{len(options)} options: consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
