"""Client: ask the echo server which source address it saw. Prints one JSON object.

    python3 traffic.py HOST PORT --proto tcp|udp --timeout 3
    python3 traffic.py HOST PORT --proto tcp|udp --timeout 3 --sports 40001,40002,...

{"proto": "tcp", "ok": true, "seen": "192.0.2.51"}  or  {"ok": false, "error": "timed out"}
With --sports: one connection per given source port, all at once (the whole run is bounded by
one timeout), and {"proto": "tcp", "connections": [{"sport": 40001, "ok": true, "seen": ...}, ...]}.
Fixed source ports make a load-balanced path (an OVS select group hashes each flow's 5-tuple)
repeatable: the same ports take the same buckets on every run. A TCP connection on a fixed port
reads until the server closes and then resets its side (SO_LINGER 0), so neither end keeps the
4-tuple in TIME_WAIT and the next run can use the port again at once.
Stdlib only; run it inside a pod namespace (ip netns exec <pod> python3 traffic.py ...).
UDP is retried every 0.5 s until the timeout (the first datagram may be lost while OVS's
userspace tunnel resolves its next hop).
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time


def tcp_probe(host, port, timeout, sport=None):
    if sport is None:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
        return data.decode().strip()
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", sport))
        s.settimeout(timeout)
        s.connect((host, port))
        data = b""
        while True:                   # until the server closes (its FIN is then acknowledged)
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def udp_probe(host, port, timeout, sport=None):
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        if sport is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            s.sendto(b"who\n", (host, port))
            s.settimeout(min(0.5, left))
            try:
                data, dummy = s.recvfrom(256)
                return data.decode().strip()
            except socket.timeout:
                continue


def probe(host, port, proto, timeout, sport=None):
    try:
        fn = tcp_probe if proto == "tcp" else udp_probe
        seen = fn(host, port, timeout, sport)
        return {"proto": proto, "ok": bool(seen), "seen": seen or None}
    except OSError as exc:
        return {"proto": proto, "ok": False, "seen": None, "error": str(exc) or exc.__class__.__name__}


def probe_ports(host, port, proto, timeout, sports):
    """One connection per source port, in parallel; results in the order of `sports`."""
    results = [None] * len(sports)

    def one(i, sport):
        res = probe(host, port, proto, timeout, sport)
        res["sport"] = sport
        del res["proto"]
        results[i] = res

    threads = [threading.Thread(target=one, args=(i, sp)) for i, sp in enumerate(sports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    for i, sport in enumerate(sports):
        if results[i] is None:
            results[i] = {"sport": sport, "ok": False, "seen": None, "error": "no answer in time"}
    return {"proto": proto, "connections": results}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--sports", help="comma-separated source ports: one connection from each")
    args = ap.parse_args(argv)
    if args.sports:
        sports = [int(p) for p in args.sports.split(",") if p]
        print(json.dumps(probe_ports(args.host, args.port, args.proto, args.timeout, sports)))
    else:
        print(json.dumps(probe(args.host, args.port, args.proto, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
