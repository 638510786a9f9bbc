"""Client: ask the echo server which source address it saw. Prints one JSON object.

    python3 traffic.py HOST PORT --proto tcp|udp --timeout 3

{"proto": "tcp", "ok": true, "seen": "192.0.2.51"}  or  {"ok": false, "error": "timed out"}
Stdlib only; run it inside a pod namespace (ip netns exec <pod> python3 traffic.py ...).
UDP is retried every 0.5 s until the timeout (the first datagram may be lost while OVS's
userspace tunnel resolves its next hop).
"""
import argparse
import json
import socket
import sys
import time


def tcp_probe(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


def udp_probe(host, port, timeout):
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
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


def probe(host, port, proto, timeout):
    try:
        fn = tcp_probe if proto == "tcp" else udp_probe
        seen = fn(host, port, timeout)
        return {"proto": proto, "ok": bool(seen), "seen": seen or None}
    except OSError as exc:
        return {"proto": proto, "ok": False, "seen": None, "error": str(exc) or exc.__class__.__name__}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args(argv)
    print(json.dumps(probe(args.host, args.port, args.proto, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
