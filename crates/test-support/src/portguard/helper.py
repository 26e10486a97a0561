"""Test helper for tests/portguard_*.rs: a TCP listener in a process tree.

usage: helper.py [--bind ADDR]... [--port P] [--reuseport] [--depth N]
                 [--escape] [--setsid] [--escape-uid UID] [--nondumpable]
                 [--record FILE] [--greeting TEXT]

Forks --depth times (each parent waits for its child), then the leaf binds
every --bind address on the same port (the first one picks it if P is 0),
listens, prints one JSON line {"pid": LEAF, "port": P} and accepts forever,
appending every byte it receives to --record and answering --greeting.
--escape: the leaf forks once more after listening; the listening process
closes its copy of nothing and stops accepting, the grandchild's parent
exits (the grandchild is reparented out of the tree) and the grandchild
accepts: the listener is held by the tree and by the grandchild, which
takes the connections. With --setsid the middle process calls setsid(2)
first (a daemon's double fork: the grandchild is in another session and
process group); --escape-uid makes the grandchild switch to that uid and
gid; --nondumpable makes it call prctl(PR_SET_DUMPABLE, 0), so that only
root may read its /proc/PID/fd.
"""
import ctypes
import json
import os
import select
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    binds, port, reuse, depth, escape, record, greeting = [], 0, False, 0, False, None, b""
    setsid, escape_uid, nondumpable = False, None, False
    while args:
        a = args.pop(0)
        if a == "--bind":
            binds.append(args.pop(0))
        elif a == "--port":
            port = int(args.pop(0))
        elif a == "--reuseport":
            reuse = True
        elif a == "--depth":
            depth = int(args.pop(0))
        elif a == "--escape":
            escape = True
        elif a == "--setsid":
            setsid = True
        elif a == "--escape-uid":
            escape_uid = int(args.pop(0))
        elif a == "--nondumpable":
            nondumpable = True
        elif a == "--record":
            record = args.pop(0)
        elif a == "--greeting":
            greeting = args.pop(0).encode()
        else:
            raise SystemExit("unknown argument " + a)
    for _ in range(depth):
        child = os.fork()
        if child:
            os.waitpid(child, 0)
            os._exit(0)
    socks = []
    for addr in binds:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        port = s.getsockname()[1]
        s.listen(16)
        socks.append(s)
    if escape:
        mid = os.fork()
        if mid == 0:
            if setsid:
                os.setsid()
            if os.fork():
                os._exit(0)  # the grandchild is orphaned: out of the tree
            if escape_uid is not None:
                os.setgroups([])
                os.setgid(escape_uid)
                os.setuid(escape_uid)
            if nondumpable:
                if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
                    raise SystemExit("prctl(PR_SET_DUMPABLE) failed")
            time.sleep(0.2)
            serve(socks, port, record, greeting, announce=True)
        os.waitpid(mid, 0)
        while True:  # holds the listener, never accepts
            time.sleep(3600)
    serve(socks, port, record, greeting, announce=True)


def serve(socks, port, record, greeting, announce):
    if announce:
        sys.stdout.write(json.dumps({"pid": os.getpid(), "port": port}) + "\n")
        sys.stdout.flush()
    conns = []
    while True:
        r, _, _ = select.select(socks + conns, [], [])
        for s in r:
            if s in socks:
                c, _ = s.accept()
                conns.append(c)
                if greeting:
                    c.sendall(greeting)
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    conns.remove(s)
                    s.close()
                    continue
                if record:
                    with open(record, "ab") as f:
                        f.write(data)


main()
