#!/bin/sh
# check.sh — the engine's scalar build on arm64: cross-compile every engine
# source the Makefile builds on a non-x86 machine (no AVX2 / AVX-512 files)
# with the project's warning flags and -Werror, link tests/arm64/smoke.c
# against them, and run it under qemu-aarch64 (a residual block against a
# double-precision reference). Needs gcc-aarch64-linux-gnu and qemu-user
# (make check-arm64 installs them).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CC=${ARM_CC:-aarch64-linux-gnu-gcc}
OUT=$BUILD/arm64
CFLAGS="-std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. -Iengine -pthread"
rm -rf "$OUT"
mkdir -p "$OUT/obj"
n=0
for f in engine/*.c engine/kernels/ref/*.c engine/kernels/*.c engine/passes/*.c; do
    $CC $CFLAGS -c "$f" -o "$OUT/obj/$(echo "$f" | tr / _).o"
    n=$((n + 1))
done
# whole archive: every symbol of every engine file must resolve on arm64
$CC $CFLAGS tests/arm64/smoke.c -Wl,--whole-archive "$OUT"/obj/*.o -Wl,--no-whole-archive \
    -lm -o "$OUT/smoke"
echo "arm64: $n engine files compiled with -Werror and linked"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$OUT/smoke"
