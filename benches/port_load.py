#!/usr/bin/env python3
"""Load and service processes for benches/port.rs.

    port_load.py load N M [listen|bound]
                              fork N processes that each hold M TCP sockets
                              bound to 127.0.0.1 ephemeral ports, listening
                              (default) or only bound; print "ready N" once
                              all hold them; on EOF on stdin kill them, exit.
    port_load.py service      listen on 127.0.0.1:P and [::1]:P (the port of
                              the verified service); print P; exit on EOF.
"""
import os
import signal
import socket
import sys
import time


def load(n, m, kind):
    r, w = os.pipe()
    kids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            socks = []
            for _ in range(m):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                if kind == "listen":
                    s.listen(1)
                socks.append(s)
            os.write(w, b"x")
            while True:
                time.sleep(3600)
        kids.append(pid)
    os.close(w)
    got = 0
    while got < n:
        b = os.read(r, n - got)
        if not b:
            break
        got += len(b)
    print("ready", got, flush=True)
    sys.stdin.read()
    for k in kids:
        os.kill(k, signal.SIGKILL)
    for k in kids:
        os.waitpid(k, 0)


def service():
    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    a.bind(("127.0.0.1", 0))
    a.listen(16)
    port = a.getsockname()[1]
    b = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    b.bind(("::1", port))
    b.listen(16)
    print(port, flush=True)
    sys.stdin.read()


if sys.argv[1] == "load":
    load(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "listen")
else:
    service()
