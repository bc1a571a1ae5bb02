# shellcheck shell=bash
# scripts/lib/ccache.sh - sourced by the build scripts: compile through ccache when it is
# installed. Paths are hashed relative to the source tree and the build directory is not
# hashed, so another clone or build directory of the same sources hits the same cache entries
# (CI builds a fresh clone in a folder of its own). Set M365GATE_CCACHE=0 to build without.
if [ "${M365GATE_CCACHE:-1}" != 0 ] && command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
    CCACHE_BASEDIR=$(pwd)
    export CCACHE_BASEDIR
    export CCACHE_NOHASHDIR=1
    export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}
fi
