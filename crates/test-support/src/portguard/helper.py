"""Test helper for tests/portguard_*.rs: a TCP listener in a process tree.

usage: helper.py [--bind ADDR]... [--port P] [--reuseport] [--depth N]
                 [--escape] [--setsid] [--escape-uid UID] [--nondumpable]
                 [--record FILE] [--greeting TEXT] [--stall-accept SECONDS]
                 [--close-on-accept]

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
--stall-accept: every accept(2) is held, for SECONDS (forever if negative),
inside the kernel after the new socket got its inode and before its
descriptor is installed: the peer's address is copied into a page that
userfaultfd(2) leaves unmapped until the time is up (root, or
vm.unprivileged_userfaultfd=1). Meanwhile the connection's server side is
accepted but held by no process.
--close-on-accept: every accepted connection is closed at once, unread.
"""
import ctypes
import json
import mmap
import os
import select
import socket
import struct
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    binds, port, reuse, depth, escape, record, greeting = [], 0, False, 0, False, None, b""
    setsid, escape_uid, nondumpable, stall, close_at_once = False, None, False, None, False
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
        elif a == "--stall-accept":
            stall = Stall(float(args.pop(0)))
        elif a == "--close-on-accept":
            close_at_once = True
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
            serve(socks, port, record, greeting, stall, close_at_once)
        os.waitpid(mid, 0)
        while True:  # holds the listener, never accepts
            time.sleep(3600)
    serve(socks, port, record, greeting, stall, close_at_once)


class Stall:
    """accept(2) with the peer's address buffer in a userfaultfd page."""

    SYS_USERFAULTFD = {"x86_64": 323, "aarch64": 282}[os.uname().machine]
    UFFDIO_API = 0xC018AA3F
    UFFDIO_REGISTER = 0xC020AA00
    UFFDIO_ZEROPAGE = 0xC020AA04
    MADV_DONTNEED = 4

    def __init__(self, seconds):
        self.seconds = seconds
        libc = self.libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self.uffd = libc.syscall(self.SYS_USERFAULTFD, os.O_CLOEXEC)
        self.check(self.uffd, "userfaultfd")
        self.ioctl(self.UFFDIO_API, struct.pack("QQQ", 0xAA, 0, 0), "UFFDIO_API")
        self.page = mmap.PAGESIZE
        self.addr = libc.mmap(None, self.page, mmap.PROT_READ | mmap.PROT_WRITE,
                              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        # mode 1: UFFDIO_REGISTER_MODE_MISSING
        self.ioctl(self.UFFDIO_REGISTER, struct.pack("QQQQ", self.addr, self.page, 1, 0), "UFFDIO_REGISTER")

    def check(self, rc, what):
        if rc < 0:
            raise SystemExit(what + ": " + os.strerror(ctypes.get_errno()))

    def ioctl(self, request, arg, what):
        self.check(self.libc.ioctl(self.uffd, request, ctypes.create_string_buffer(arg)), what)

    def accept(self, listener):
        # Unmapped again, so the kernel's copy of the address faults.
        self.check(self.libc.madvise(ctypes.c_void_p(self.addr), self.page, self.MADV_DONTNEED), "madvise")
        if self.seconds >= 0:
            threading.Timer(self.seconds, self.ioctl, (self.UFFDIO_ZEROPAGE,
                            struct.pack("QQQq", self.addr, self.page, 0, 0), "UFFDIO_ZEROPAGE")).start()
        length = ctypes.c_uint32(128)
        fd = self.libc.accept(listener.fileno(), ctypes.c_void_p(self.addr), ctypes.byref(length))
        self.check(fd, "accept")
        return socket.socket(fileno=fd)


def serve(socks, port, record, greeting, stall, close_at_once):
    sys.stdout.write(json.dumps({"pid": os.getpid(), "port": port}) + "\n")
    sys.stdout.flush()
    conns = []
    while True:
        r, _, _ = select.select(socks + conns, [], [])
        for s in r:
            if s in socks:
                c = stall.accept(s) if stall else s.accept()[0]
                if close_at_once:
                    c.close()
                    continue
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
