# fedalign: a Spack package (packaging/spack/README.md). Its dependency list is checked
# against the find_* calls of the CMake files by tests/install/test_spack_deps.py: a new
# find_package in CMakeLists.txt without its depends_on here fails that test.
from spack.package import *


class Fedalign(CMakePackage):
    """MPI + OpenMP + parallel HDF5 benchmark suite for federated learning of TinyML
    fault classifiers on heterogeneous IoT devices: the Fed-Meta-Align pipeline
    (arXiv 2508.11794) and its baselines, bit-identical for any number of ranks and
    threads."""

    homepage = "https://arxiv.org/abs/2508.11794"

    license("BSD-3-Clause")

    # No release tarball is published: build a checkout with
    #   spack develop --path /path/to/fedalign fedalign@0.1.0 && spack install fedalign
    version("0.1.0")

    variant(
        "isa",
        default="all",
        values=("all", "avx2", "sse2"),
        multi=False,
        description="ISA paths of the compute kernels (FEDALIGN_ISA_PATHS): all = sse2, avx2 "
        "and avx512, the fastest the CPU has runs (fedalign --isa forces one; same bits on "
        "every path); avx2 = sse2 and avx2; sse2 = the x86-64 baseline only",
    )
    variant("sanitizers", default=False, description="build with ASan and UBSan")
    variant(
        "smpi",
        default=False,
        description="build for SimGrid SMPI (smpirun on a simulated platform; no OpenMP, "
        "no results file: docs/scaling.md)",
    )

    depends_on("c", type="build")
    depends_on("cmake@3.20:", type="build")
    depends_on("help2man", type="build")  # the man page, generated from --help
    depends_on("mpi")
    depends_on("hdf5+mpi+hl")  # parallel HDF5 (a serial one is refused); hl: dimension scales
    depends_on("random123")
    depends_on("libcsv")
    depends_on("cmocka", type="test")
    depends_on("simgrid+smpi", when="+smpi")  # smpicc, smpirun
    depends_on("llvm-openmp", when="%apple-clang")  # gcc and clang bring their OpenMP

    # What each find_* of the CMake files looks for -> the Spack package that provides it
    # (None: the compiler). tests/install/test_spack_deps.py reads this table and the
    # depends_on calls above: every find has a row, every row's package a depends_on,
    # and every depends_on (but the build tools) a row.
    cmake_finds = {
        "MPI": "mpi",
        "OpenMP": None,
        "HDF5": "hdf5",
        "Random123/philox.h": "random123",
        "csv.h": "libcsv",
        "csv": "libcsv",
        "cmocka": "cmocka",
        "cmocka.h": "cmocka",
        "help2man": "help2man",
        "smpicc": "simgrid",
    }

    def cmake_args(self):
        isa = self.spec.variants["isa"].value
        paths = {"all": "sse2;avx2;avx512", "avx2": "sse2;avx2", "sse2": "sse2"}[isa]
        return [
            self.define("FEDALIGN_ISA_PATHS", paths),
            self.define_from_variant("FEDALIGN_ENABLE_SANITIZERS", "sanitizers"),
            self.define_from_variant("FEDALIGN_ENABLE_SMPI", "smpi"),
            self.define("BUILD_TESTING", self.run_tests),
        ]
