"""Lab processes by pidfile, JSON state files and namespace helpers, for both labs.

Each lab makes one `Processes(state_dir)`: a PID counts as the lab's own only while its argv
names that state directory, so a stale pidfile never stops a foreign process.
"""
import json
import os
import signal
import time

from sdnlab.netns import IP, exists, run


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def wait_for(cond, timeout, what, poll=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(poll)
    raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))


class Processes:
    """The processes a lab started (`state_dir` in their argv); with `alive`, a further test a
    PID must pass to count as running (e.g. not a zombie)."""

    def __init__(self, state_dir, alive=None):
        self.state_dir = state_dir
        self.alive = alive

    def ours(self, pid):
        """True when `pid` is alive and was started by this lab (its argv names the state dir)."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            return False
        return self.state_dir in cmdline and (self.alive is None or self.alive(pid))

    def pid_alive(self, path):
        pid = read_pid(path)
        return pid if pid and self.ours(pid) else None

    def stop_pidfile(self, path, timeout=5.0):
        pid = self.pid_alive(path)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.ours(pid):
                time.sleep(0.02)
            if self.ours(pid):
                os.kill(pid, signal.SIGKILL)
        if os.path.exists(path):
            os.unlink(path)


def stop_netns_processes(name, timeout=5.0):
    """Stop, by PID, whatever still runs in the lab namespace `name` before it is deleted: an
    SSH session outlives the sshd that accepted it, and once its namespace is gone it has no
    link left to learn that its client went away."""
    pids = [int(word) for word in run([IP, "netns", "pids", name], check=False).stdout.split()
            if word.isdigit() and int(word) != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % pid) for pid in pids):
            time.sleep(0.02)
        pids = [pid for pid in pids if os.path.exists("/proc/%d" % pid)]
        if not pids:
            return


def delete_namespaces(names, prefix):
    """Delete the namespaces `names` and any other whose name starts with `prefix`, pods first,
    node namespaces last (their veth peers go away with them), each after stopping what runs in it."""
    names = set(names)
    if os.path.isdir("/run/netns"):
        names |= {n for n in os.listdir("/run/netns") if n.startswith(prefix)}
    for name in sorted(names, key=lambda n: (not n.startswith(prefix + "pod-"), n)):
        if exists(name):
            stop_netns_processes(name)
            run([IP, "netns", "del", name], check=False)


def sysctl(ns, pairs):
    run([IP, "netns", "exec", ns, "sysctl", "-q", "-w"] + ["%s=%s" % kv for kv in pairs])


def tx_off(ns, ifname):
    run([IP, "netns", "exec", ns, "ethtool", "-K", ifname, "tx", "off"])


def ovs_port_sysctls(ifname):
    return [("net.ipv4.conf.%s.arp_ignore" % ifname, 8), ("net.ipv4.conf.%s.forwarding" % ifname, 0),
            ("net.ipv6.conf.%s.disable_ipv6" % ifname, 1)]
