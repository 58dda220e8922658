"""jcheck.py FILE EXPR — exit 0 when the Python expression EXPR is true
with j = the JSON in FILE (plus helpers); print why not otherwise.
  FILE may be '-' for stdin. Helpers: png(bytes) -> (w, h, depth, colortype),
  b64(str) -> bytes, isclose(a, b, tol), arr(bytes or path) -> numpy array
  of an image's pixels (palette indices for a palette PNG)."""
import base64
import json
import math
import struct
import sys


def png(b):
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    w, h, depth, ctype = struct.unpack(">IIBB", b[16:26])
    return w, h, depth, ctype


def arr(x):
    import io
    import numpy
    from PIL import Image
    return numpy.array(Image.open(io.BytesIO(x) if isinstance(x, bytes) else x))


def b64(s):
    return base64.b64decode(s)


def isclose(a, b, tol=1e-4):
    return abs(a - b) <= tol


raw = sys.stdin.buffer.read() if sys.argv[1] == "-" else open(sys.argv[1], "rb").read()
try:
    j = json.loads(raw)
except ValueError:
    j = None
expr = sys.argv[2]
env = {"j": j, "json": json, "raw": raw, "png": png, "b64": b64, "isclose": isclose, "math": math,
       "arr": arr}
try:
    ok = eval(expr, env)
except Exception as e:  # noqa: BLE001 - report anything as a failure
    ok = False
    print(f"    check raised {type(e).__name__}: {e}")
if not ok:
    print(f"    failed: {expr}")
    print(f"    body: {raw[:300]!r}")
    sys.exit(1)
