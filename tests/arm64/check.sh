#!/bin/sh
# check.sh — the engine's scalar build on arm64: cross-compile the engine
# sources a non-x86 machine builds (the Makefile's ENGINE_SRCS: no AVX2 /
# AVX-512 files) with the project's CFLAGS_BASE (-Werror), link
# tests/arm64/smoke.c against them, and run it under qemu-aarch64 (a
# residual block against a double-precision reference). Run by
# `make check-arm64`, which passes both lists and installs
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CC=${ARM_CC:-aarch64-linux-gnu-gcc}
OUT=$BUILD/arm64
CFLAGS=${ARM_CFLAGS:?run through make check-arm64}
SRCS=${ARM_SRCS:?run through make check-arm64}
rm -rf "$OUT"
mkdir -p "$OUT/obj"
n=0
for f in $SRCS; do
    $CC $CFLAGS -c "$f" -o "$OUT/obj/$(echo "$f" | tr / _).o"
    n=$((n + 1))
done
# whole archive: every symbol of every engine file must resolve on arm64
$CC $CFLAGS tests/arm64/smoke.c -Wl,--whole-archive "$OUT"/obj/*.o -Wl,--no-whole-archive \
    -lm -o "$OUT/smoke"
echo "arm64: $n engine files compiled with -Werror and linked"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$OUT/smoke"
