#!/usr/bin/env python3
"""Request-to-final-response latency of SIP over UDP, read from a pcap file.

    latency.py CAPTURE.pcap  ->  "count p50 p95 p99 max" in microseconds

Each request is keyed by Call-ID, CSeq number and method; its time is the
first copy seen (retransmissions do not restart it) and it ends with the
first final response (>= 200, 401 included) with the same key. Kernel
timestamps from the capture give microsecond resolution, which sipp's own
response times (1 ms) do not.
"""
import struct
import sys

LINK_OFFSETS = {0: 4, 1: 14, 113: 16, 276: 20}  # null, Ethernet, Linux SLL, SLL2


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = head[:4]
        formats = {
            b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
            b"\xa1\xb2\xc3\xd4": (">", 1e-6), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
        }
        if magic not in formats:
            sys.exit("latency.py: %s is not a pcap file" % path)
        order, unit = formats[magic]
        link = struct.unpack(order + "I", head[20:24])[0]
        offset = LINK_OFFSETS.get(link)
        if offset is None:
            sys.exit("latency.py: link type %d not handled" % link)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, caplen, _ = struct.unpack(order + "IIII", rec)
            data = f.read(caplen)
            ip = data[offset:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue  # IPv4 UDP only: the harness runs on 127.0.0.1
            yield sec + frac * unit, ip[(ip[0] & 15) * 4 + 8:]


def header(payload, name):
    i = payload.find(b"\r\n" + name)
    if i < 0:
        return None
    j = payload.find(b"\r\n", i + 2)
    return payload[i + 2 + len(name):j].strip()


def main(path):
    sent, done = {}, []
    for t, p in packets(path):
        callid, cseq = header(p, b"Call-ID:"), header(p, b"CSeq:")
        if callid is None or cseq is None:
            continue
        key = (callid, cseq)
        if p.startswith(b"SIP/2.0 "):
            if int(p[8:11]) >= 200 and key in sent:
                done.append(t - sent.pop(key))
        elif key not in sent:
            sent[key] = t
    if not done:
        print("0 - - - -")
        return
    done.sort()

    def at(q):
        return done[min(len(done) - 1, max(0, int(len(done) * q + 0.5) - 1))] * 1e6

    print("%d %.0f %.0f %.0f %.0f" % (len(done), at(0.50), at(0.95), at(0.99), done[-1] * 1e6))


if __name__ == "__main__":
    main(sys.argv[1])
