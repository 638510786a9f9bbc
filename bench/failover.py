#!/usr/bin/env python3
"""Failover gap in the built-in lab: dataplane (fast-failover groups + BFD) against run-based.

    make bench-failover            (bench/failover.py [--reps 10] [--run-reps 3] [--rate 100])

Pods of egress-test (egress IPs 192.0.2.51 on router01, then 192.0.2.52 on router02) on master01
and router02, and of egress-test2 (198.51.100.51 on router01 only), stream UDP at --rate
datagrams per second to a sink next to the echo server that records the source address and time
of each (lab/sdnlab/stream.py; every namespace shares the monotonic clock).

dataplane: converge with egress_failover=dataplane once; each repetition waits until master01's
BFD towards router01 is up at its configured rate (settled), cuts router01's links (eth0, eth1)
and measures the time until master01's egress-test pod is seen with the second IP, then restores
them and measures the time until it is seen with the first IP again, and until BFD has settled
again (a cut before that is detected in up to 3 s: BFD's slow start). No playbook runs.
run: converge with egress_failover=run; each repetition takes router01 down (lab.py
node-down: links and sshd), runs playbooks/egress.yml at once and measures the time from the cut
until the second IP is seen; then node-up and a converge put it back. leaked: datagrams of the
egress namespaces seen with a node IP during the whole benchmark (must be 0).

The last line is the summary:
    failover: dataplane median <ms> ms, max <ms> ms; run median <ms> ms; leaked <n>
Results go to bench/results/failover-<UTC time>.json. Holds the lab lock, brings the lab down.
"""
import argparse
import datetime
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "lab"))

from sdnlab import topology as topo  # noqa: E402
from sdnlab.netns import ip_batch  # noqa: E402
from sdnlab.stream import Streams, first  # noqa: E402

LOCK = "/tmp/sdnlab-dev.lock"
VENV_BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(REPO, "lab", "lab.py")]
FIRST, SECOND, ONLY = "192.0.2.51", "192.0.2.52", "198.51.100.51"
CUT = "router01"
PROBE = "egress-test-master01"
SOURCES = [("sdnlab-pod-egress-test-master01", "egress-test-master01"),
           ("sdnlab-pod-egress-test-router02", "egress-test-router02"),
           ("sdnlab-pod-egress-test2-master01", "egress-test2-master01"),
           ("sdnlab-pod-egress-test2-router02", "egress-test2-router02")]
NODE_IPS = set(node.host_ip for node in topo.NODES)


def log(msg):
    sys.stderr.write("[bench-failover] %s\n" % msg)
    sys.stderr.flush()


def converge(mode):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "egress.yml"),
                           "-i", os.path.join(REPO, "inventories", "lab"), "-e", "egress_failover=%s" % mode],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("egress.yml (%s) failed:\n%s" % (mode, proc.stdout[-3000:]))


def links(node, state):
    names = ["eth0"] + (["eth1"] if topo.NODE_BY_NAME[node].eth1 else [])
    ip_batch(topo.NODE_BY_NAME[node].netns, ["link set %s %s" % (name, state) for name in names])


def lab(*args):
    subprocess.run(LAB + list(args), check=True, capture_output=True, timeout=300)


def bfd_settled():
    """master01's BFD towards router01 up and past its slow start (RFC 5880: one packet a second
    until Up; the reflected answers then carry the configured 100 ms): only from then on does
    a cut take 3 x 100 ms to detect."""
    env = dict(os.environ, OVS_RUNDIR=topo.NODE_BY_NAME["master01"].ovs_rundir)
    port = "sdne-%08x" % int.from_bytes(bytes(int(part) for part in topo.NODE_BY_NAME[CUT].host_ip.split(".")), "big")
    show = subprocess.run(["ovs-appctl", "bfd/show", port], capture_output=True, text=True, env=env,
                          check=True).stdout
    return "Forwarding: true" in show and "RX Interval: Approx 100ms" in show


def wait_settled(since, timeout=20.0):
    """Seconds from ``since`` until bfd_settled(), polled every 20 ms."""
    deadline = since + timeout
    while not bfd_settled():
        if time.monotonic() > deadline:
            raise RuntimeError("BFD towards %s not settled %.0f s after %.3f" % (CUT, timeout, since))
        time.sleep(0.02)
    return time.monotonic() - since


def dataplane(streams, reps):
    downs, ups, settles = [], [], []
    for rep in range(reps):
        streams.wait("steady on the first IP", lambda rows: first(rows, PROBE, FIRST), 15, since=time.monotonic())
        wait_settled(time.monotonic())
        cut = time.monotonic()
        links(CUT, "down")
        seen = streams.wait("the second IP", lambda rows: first(rows, PROBE, SECOND), 10, since=cut)
        downs.append((seen - cut) * 1000)
        time.sleep(1.0)   # the cut holds a while (BFD settles down on every node)
        back = time.monotonic()
        links(CUT, "up")
        seen = streams.wait("the first IP again", lambda rows: first(rows, PROBE, FIRST), 15, since=back)
        ups.append((seen - back) * 1000)
        settles.append(wait_settled(back) * 1000)
        log("dataplane %d/%d: failover %.0f ms, return %.0f ms, BFD settled %.0f ms after the links came up"
            % (rep + 1, reps, downs[-1], ups[-1], settles[-1]))
    return downs, ups, settles


def run_based(streams, reps):
    gaps = []
    for rep in range(reps):
        streams.wait("steady on the first IP", lambda rows: first(rows, PROBE, FIRST), 30, since=time.monotonic())
        cut = time.monotonic()
        lab("node-down", CUT)
        converge("run")
        seen = streams.wait("the second IP", lambda rows: first(rows, PROBE, SECOND), 30, since=cut)
        gaps.append((seen - cut) * 1000)
        log("run %d/%d: failover %.0f ms" % (rep + 1, reps, gaps[-1]))
        lab("node-up", CUT)
        converge("run")
    return gaps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10, help="dataplane repetitions (default 10)")
    ap.add_argument("--run-reps", type=int, default=3, help="run-based repetitions (default 3; a run each way)")
    ap.add_argument("--rate", type=float, default=100.0, help="datagrams per second per pod (default 100)")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.run_reps < 1:
        ap.error("--reps and --run-reps must be at least 1")
    out_dir = os.path.join(REPO, "bench", "results")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%S")
    sink = os.path.join(REPO, ".cache", "failover-sink.log")
    os.makedirs(os.path.dirname(sink), exist_ok=True)
    with open(LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("waiting for %s (another lab user holds it)" % LOCK)
            fcntl.flock(handle, fcntl.LOCK_EX)
        streams = None
        try:
            lab("up", "--rebuild")
            converge("dataplane")
            streams = Streams(sink, rate=args.rate).start(SOURCES)
            downs, ups, settles = dataplane(streams, args.reps)
            converge("run")   # groups and monitor ports pruned: the run-based baseline
            runs = run_based(streams, args.run_reps)
        finally:
            if streams is not None:
                streams.stop()
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)
    rows = streams.rows()
    leaked = [row for row in rows if row[1] in NODE_IPS and row[2].startswith("egress-test")]
    result = {"time": stamp, "rate": args.rate, "reps": args.reps, "run_reps": args.run_reps,
              "dataplane_failover_ms": [round(x, 1) for x in downs], "dataplane_return_ms": [round(x, 1) for x in ups],
              "dataplane_settled_ms": [round(x, 1) for x in settles],
              "run_failover_ms": [round(x, 1) for x in runs], "datagrams": len(rows), "leaked": len(leaked),
              "summary": {"dataplane_median_ms": round(statistics.median(downs)), "dataplane_max_ms": round(max(downs)),
                          "return_median_ms": round(statistics.median(ups)), "return_max_ms": round(max(ups)),
                          "settled_median_ms": round(statistics.median(settles)), "settled_max_ms": round(max(settles)),
                          "run_median_ms": round(statistics.median(runs))}}
    with open(os.path.join(out_dir, "failover-%s.json" % stamp), "w") as f:
        json.dump(result, f, indent=1)
    summary = result["summary"]
    print("dataplane return: median %d ms, max %d ms; BFD settled median %d ms, max %d ms; datagrams %d"
          % (summary["return_median_ms"], summary["return_max_ms"], summary["settled_median_ms"],
             summary["settled_max_ms"], len(rows)))
    print("failover: dataplane median %d ms, max %d ms; run median %d ms; leaked %d"
          % (summary["dataplane_median_ms"], summary["dataplane_max_ms"], summary["run_median_ms"], len(leaked)))
    return 0 if not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
