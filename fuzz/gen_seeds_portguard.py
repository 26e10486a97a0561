#!/usr/bin/env python3
"""Writes the seed corpora of the gw-portguard fuzz targets (sock_diag,
proc_net_tcp, proc_stat): real-shaped kernel output, as on a little-endian
host, plus edge cases (comm with ") (", truncations, NLMSG_ERROR).

    python3 fuzz/gen_seeds_portguard.py
"""

import os
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def nlhdr(length, typ, flags, seq):
    return struct.pack("<IHHII", length, typ, flags, seq, 0)


def diag_msg(seq, family, state, sport, dport, src, dst, uid, inode):
    body = struct.pack("<BBBB", family, state, 0, 0) + struct.pack(">HH", sport, dport)
    body += src.ljust(16, b"\0") + dst.ljust(16, b"\0") + struct.pack("<I", 0) + b"\xa5" * 8
    body += struct.pack("<IIIII", 0, 0, 0, uid, inode)
    return nlhdr(16 + len(body), 20, 2, seq) + body


def done(seq, status=0):
    return nlhdr(20, 3, 2, seq) + struct.pack("<i", status)


def sock_diag():
    seq = 1
    pre = struct.pack("<I", seq)
    lo4 = socket.inet_pton(socket.AF_INET, "127.0.0.1")
    lo6 = socket.inet_pton(socket.AF_INET6, "::1")
    any6 = bytes(16)
    listen4 = diag_msg(seq, 2, 10, 8080, 0, lo4, b"", 1000, 4242)
    listen6 = diag_msg(seq, 10, 10, 8080, 0, lo6, any6, 0, 4343)
    est = diag_msg(seq, 10, 1, 8080, 51000, socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1"),
                   socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1"), 1000, 0)
    write("sock_diag", "listen-v4-done", pre + listen4 + done(seq))
    write("sock_diag", "listen-v6-two", pre + listen6 + listen6 + done(seq))
    write("sock_diag", "established-mapped", pre + est)
    write("sock_diag", "error-enoent", pre + nlhdr(36, 2, 0, seq) + struct.pack("<i", -2) + nlhdr(16, 20, 0, seq))
    write("sock_diag", "done-negative", pre + done(seq, -13))
    write("sock_diag", "truncated", pre + listen4[:50])
    write("sock_diag", "bad-family", pre + diag_msg(seq, 7, 10, 1, 0, lo4, b"", 0, 1))
    write("sock_diag", "foreign-seq", pre + diag_msg(2, 2, 10, 1, 0, lo4, b"", 0, 1))


def hex4(ip):
    return "%08X" % struct.unpack("<I", socket.inet_pton(socket.AF_INET, ip))[0]


def hex6(ip):
    b = socket.inet_pton(socket.AF_INET6, ip)
    return "".join("%08X" % struct.unpack("<I", b[i:i + 4])[0] for i in range(0, 16, 4))


HEADER4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
HEADER6 = ("  sl  local_address                         remote_address                        st tx_queue rx_queue"
           " tr tm->when retrnsmt   uid  timeout inode\n")


def line(sl, local, remote, st, uid, inode):
    return ("%4d: %s %s %02X 00000000:00000000 00:00000000 00000000 %5d        0 %d 1 0000000000000000 100 0 0 10 0\n"
            % (sl, local, remote, st, uid, inode))


def proc_net_tcp():
    t4 = HEADER4 + line(0, hex4("127.0.0.1") + ":1F90", hex4("0.0.0.0") + ":0000", 10, 1000, 4242)
    t4 += line(1, hex4("127.0.0.1") + ":C738", hex4("127.0.0.1") + ":1F90", 1, 0, 0)
    write("proc_net_tcp", "tcp4", b"\0" + t4.encode())
    t6 = HEADER6 + line(0, hex6("::1") + ":1F90", hex6("::") + ":0000", 10, 0, 4343)
    t6 += line(1, hex6("::ffff:127.0.0.1") + ":1F90", hex6("::ffff:127.0.0.1") + ":C738", 1, 65534, 99)
    write("proc_net_tcp", "tcp6", b"\1" + t6.encode())
    write("proc_net_tcp", "header-only", b"\0" + HEADER4.encode())
    write("proc_net_tcp", "short-line", b"\0" + (HEADER4 + "   0: 0100007F:1F90\n").encode())
    write("proc_net_tcp", "v4-as-v6", b"\1" + t4.encode())


def proc_stat():
    tail = (" 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 %d 12345678 345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0"
            " 17 1 0 0 0 0 0\n")
    write("proc_stat", "plain", "4242 (python3) S 1 4242 4242" + tail % 123456)
    write("proc_stat", "comm-parens", "77 (a) (b ) c) R 42 77 77" + tail % 9)
    write("proc_stat", "comm-empty", "1 () S 0 1 1" + tail % 1)
    write("proc_stat", "kthread", "2 (kworker/u8:1-events_unbound) I 2 0 0" + tail % 0)
    write("proc_stat", "truncated", "4242 (python3) S 1 4242 4242 0 -1")
    write("proc_stat", "no-close", "4242 (python3 S 1")


sock_diag()
proc_net_tcp()
proc_stat()
