# libcsv, the CSV tokenizer fedalign reads its CSV input with (Debian: libcsv-dev); Spack's
# builtin repository has no package for it.
from spack.package import *


class Libcsv(AutotoolsPackage):
    """A small, simple and fast CSV library written in pure ANSI C89."""

    homepage = "https://github.com/rgamble/libcsv"
    git = "https://github.com/rgamble/libcsv.git"

    license("LGPL-2.1-or-later")

    # upstream has no tags; this commit's configure.ac is AC_INIT([libcsv], [3.0.3])
    version("3.0.3", commit="b1d5212831842ee5869d99bc208a21837e4037d5")
