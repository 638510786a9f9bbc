"""Steady UDP probe streams for failover measurements (stdlib only).

    python3 stream.py sink --bind 203.0.113.10 --port 8091 --out FILE
    python3 stream.py source --dst 203.0.113.10 --port 8091 --tag NAME --rate 100

The sink writes one line per datagram: "<CLOCK_MONOTONIC seconds> <source IP> <payload>"; the
source sends "<tag> <sequence>" `rate` times a second and ignores send errors (a cut path).
Every lab namespace shares the machine's monotonic clock, so a test's own time.monotonic()
before and after an event compares with the sink's times. Run each inside its namespace
(ip netns exec ...); stop them by PID.
"""
import argparse
import socket
import sys
import time


def sink(bind, port, out):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    with open(out, "a", buffering=1) as f:
        while True:
            data, peer = sock.recvfrom(2048)
            f.write("%.6f %s %s\n" % (time.monotonic(), peer[0], data.decode(errors="replace").strip()))


def source(dst, port, tag, rate):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = 1.0 / rate
    seq = 0
    next_at = time.monotonic()
    while True:
        try:
            sock.sendto(("%s %d" % (tag, seq)).encode(), (dst, port))
        except OSError:
            pass
        seq += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()


def read(path, since=0.0):
    """[(time, source IP, tag)] of a sink file, from `since` on."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and float(parts[0]) >= since:
                    out.append((float(parts[0]), parts[1], parts[2]))
    except FileNotFoundError:
        pass
    return out


class Streams:
    """A sink in the server's namespace and one source per pod, started and stopped by PID.

        streams = Streams(out_file).start([(pod netns, tag), ...])
        streams.wait("what", lambda rows: ..., timeout)   # polls the sink's file
        streams.stop()
    """

    def __init__(self, out, server_ns="sdnlab-srv", server_ip="203.0.113.10", port=8091, rate=100.0):
        self.out, self.server_ns, self.server_ip, self.port, self.rate = out, server_ns, server_ip, port, rate
        self.procs = []

    def _spawn(self, netns, args):
        import subprocess
        argv = ["ip", "netns", "exec", netns, sys.executable, __file__] + args
        with open("/dev/null", "rb") as devnull:
            self.procs.append(subprocess.Popen(argv, stdin=devnull, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True))

    def start(self, sources):
        open(self.out, "w").close()
        self._spawn(self.server_ns, ["sink", "--bind", self.server_ip, "--port", str(self.port), "--out", self.out])
        time.sleep(0.2)   # the sink binds before the first datagram (a lost one would only delay the first row)
        for netns, tag in sources:
            self._spawn(netns, ["source", "--dst", self.server_ip, "--port", str(self.port), "--tag", tag,
                                "--rate", str(self.rate)])
        return self

    def rows(self, since=0.0):
        return read(self.out, since)

    def wait(self, what, predicate, timeout, since=0.0):
        """Poll the sink until predicate(rows since `since`) is true; its time, or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.rows(since))
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
            time.sleep(0.05)

    def stop(self):
        import signal
        for proc in self.procs:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except Exception:
                proc.kill()
        self.procs = []


def first(rows, tag, ip=None, not_ip=None):
    """Time of the first row of `tag` (from `ip`, or from any IP but `not_ip`), or None."""
    for when, src, row_tag in rows:
        if row_tag == tag and (ip is None or src == ip) and (not_ip is None or src != not_ip):
            return when
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sink")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("source")
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--rate", type=float, default=100.0)
    args = ap.parse_args(argv)
    if args.cmd == "sink":
        sink(args.bind, args.port, args.out)
    else:
        source(args.dst, args.port, args.tag, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
