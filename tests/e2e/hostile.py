"""hostile.py — the clients a public server meets, for suite_hostile.sh.
  hostile.py PORT FLAG SECONDS IDLE SLOW_HEADERS SLOW_BODIES NO_READ BIG_IMAGE
Opens at once: IDLE keep-alive connections that each GET /healthz once and
then sit silent; SLOW_HEADERS connections that send a request's headers one
byte at a time; SLOW_BODIES connections that send headers promising 1 MB and
then the body one byte at a time; NO_READ connections that each POST
BIG_IMAGE to /segment?format=overlay (a multi-megabyte answer) and pipeline
GET /models behind it, with a 4 KB receive buffer, and never read. Creates
FLAG once all are open, keeps it up for SECONDS, then asks every idle
connection for /healthz again and closes everything. Prints one JSON line:
counts opened, idle connections still answering 200, trickle connections the
server closed early, and the server's refusals seen."""
import json
import os
import socket
import sys
import time

port, flag, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
n_idle, n_slowh, n_slowb, n_noread = (int(x) for x in sys.argv[4:8])
big = open(sys.argv[8], "rb").read()
out = {"idle_opened": 0, "idle_refused": 0, "idle_alive_after": 0, "slow_headers": 0,
       "slow_bodies": 0, "trickle_closed_by_server": 0, "no_read": 0}


def connect(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def get_healthz(s):
    """One keep-alive GET; True when the answer is 200 and complete."""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return False
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(rest) < n:
        d = s.recv(4096)
        if not d:
            return False
        rest += d
    return head.startswith(b"HTTP/1.1 200")


idle = []
for _ in range(n_idle):
    try:
        s = connect()
        if get_healthz(s):
            idle.append(s)
            out["idle_opened"] += 1
        else:
            out["idle_refused"] += 1
            s.close()
    except OSError:
        out["idle_refused"] += 1

heads = b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nX-Pad: " + b"p" * 200
trickle = []  # [socket, bytes to send, position]
for _ in range(n_slowh):
    s = connect()
    trickle.append([s, heads, 0])
    out["slow_headers"] += 1
for _ in range(n_slowb):
    s = connect()
    s.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
              b"Content-Length: 1000000\r\n\r\n")
    trickle.append([s, b"\x89PNG" + b"\0" * 100000, 0])
    out["slow_bodies"] += 1

noread = []
for _ in range(n_noread):
    s = connect(rcvbuf=4096)
    req = (f"POST /segment?format=overlay HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
           f"Content-Length: {len(big)}\r\n\r\n").encode() + big
    req += b"GET /models HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    s.setblocking(False)
    try:
        s.send(req)  # whatever fits; the rest is never sent either
    except BlockingIOError:
        pass
    noread.append(s)
    out["no_read"] += 1

open(flag, "w").close()
end = time.time() + seconds
while time.time() < end:
    for t in trickle:
        s, data, pos = t
        if s is None or pos >= len(data):
            continue
        try:
            s.send(data[pos:pos + 1])
            t[2] += 1
        except OSError:
            out["trickle_closed_by_server"] += 1
            s.close()
            t[0] = None
    time.sleep(0.5)

for s in idle:
    try:
        if get_healthz(s):
            out["idle_alive_after"] += 1
    except OSError:
        pass
    s.close()
for t in trickle:
    if t[0]:
        t[0].close()
for s in noread:
    s.close()
print(json.dumps(out))
