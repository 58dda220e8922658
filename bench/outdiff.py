#!/usr/bin/env python3
"""outdiff.py A.f32 B.f32 — the largest |a - b| relative to B's range (B is
the reference: ORT's output), for compare-ort.sh and scaling.sh. Raw
float32 files; prints "size-mismatch" when their lengths differ. Standard
library only (runs under any python3)."""
import array
import sys

a = array.array('f')
b = array.array('f')
with open(sys.argv[1], 'rb') as f:
    a.frombytes(f.read())
with open(sys.argv[2], 'rb') as f:
    b.frombytes(f.read())
if len(a) != len(b):
    print("size-mismatch")
    sys.exit(0)
rng = max((abs(v) for v in b), default=0.0) or 1.0
print("%.2g" % (max((abs(x - y) for x, y in zip(a, b)), default=0.0) / rng))
