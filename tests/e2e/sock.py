"""sock.py — raw-socket clients for what curl cannot do on purpose.
  sock.py cut-body PORT            send headers promising 1 MB, 1 KB of it, hang up
  sock.py cut-wait PORT PATH FILE  send a whole request, hang up before the answer
  sock.py idle PORT N SECONDS      hold N connections open, silent, then close
  sock.py hold PORT N LENGTH SENT FLAG  open N connections, each sending
      headers that promise a LENGTH-byte body and SENT bytes of it; hang up
      once FLAG exists
  sock.py after-flag PORT FLAG METHOD PATH [FILE]
      open a keep-alive connection, GET /healthz on it, wait for FLAG to
      exist, then send METHOD PATH (body FILE) on the same connection and
      print: "<first status> <second status> <error code or ->"."""
import http.client
import json
import os
import socket
import sys
import time


def connect(port):
    return socket.create_connection(("127.0.0.1", int(port)), timeout=10)


def cut_body(port):
    s = connect(port)
    s.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
              b"Content-Length: 1000000\r\n\r\n" + b"\x89PNG" + b"\0" * 1020)
    time.sleep(0.2)
    s.close()


def cut_wait(port, path, file):
    body = open(file, "rb").read()
    s = connect(port)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    s.close()


def idle(port, n, seconds):
    socks = [connect(port) for _ in range(int(n))]
    time.sleep(float(seconds))
    for s in socks:
        s.close()


def hold(port, n, length, sent, flag):
    socks = []
    for _ in range(int(n)):
        s = connect(port)
        s.sendall(f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                  f"Content-Length: {int(length)}\r\n\r\n".encode() + b"\xff\xd8"
                  + b"\0" * (int(sent) - 2))
        socks.append(s)
    deadline = time.time() + 60
    while not os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.02)
    for s in socks:
        s.close()


def after_flag(port, flag, method, path, file=None):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    c.request("GET", "/healthz")
    r = c.getresponse()
    r.read()
    first = r.status
    deadline = time.time() + 60
    while not os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.02)
    body = open(file, "rb").read() if file else None
    headers = {"Content-Type": "application/octet-stream"} if body else {}
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        code = "-"
        try:
            code = json.loads(data)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            pass
        print(first, r.status, code)
    except OSError as e:
        print(first, "closed", type(e).__name__)


cmd, args = sys.argv[1], sys.argv[2:]
{"cut-body": cut_body, "cut-wait": cut_wait, "idle": idle, "hold": hold,
 "after-flag": after_flag}[cmd](*args)
