"""Network namespaces driven with argv lists (ip netns ...)."""
import os
import stat
import subprocess

IP = "/usr/sbin/ip"


def run(argv, check=True, input=None, env=None, timeout=60):
    """Run an argv list, return CompletedProcess with text output; raise with stderr on failure."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def exists(name):
    return os.path.exists("/run/netns/%s" % name)


class Netns:
    """A named network namespace; `python` is an interpreter wrapper that runs inside it."""

    def __init__(self, name, workdir, python):
        self.name = name
        self.workdir = workdir
        self.python = os.path.join(workdir, "python-%s" % name)
        self._host_python = python

    def create(self):
        if exists(self.name):
            run([IP, "netns", "del", self.name])
        run([IP, "netns", "add", self.name])
        self.run([IP, "link", "set", "lo", "up"])
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.python, "w") as f:
            f.write('#!/bin/sh\nexec %s netns exec %s %s "$@"\n' % (IP, self.name, self._host_python))
        os.chmod(self.python, os.stat(self.python).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return self

    def argv(self, argv):
        return [IP, "netns", "exec", self.name] + list(argv)

    def run(self, argv, check=True, input=None, env=None, timeout=60):
        return run(self.argv(argv), check=check, input=input, env=env, timeout=timeout)

    def popen(self, argv, **kwargs):
        return subprocess.Popen(self.argv(argv), **kwargs)

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", "%s=%s" % (key, value)])

    def delete(self):
        if exists(self.name):
            run([IP, "netns", "del", self.name], check=False)


def veth(a_ns, a_if, b_ns, b_if, mtu=None):
    """Create a veth pair with one end in each namespace (None = the calling namespace)."""
    run([IP, "link", "add", a_if, "type", "veth", "peer", "name", b_if])
    for ns, ifname in ((a_ns, a_if), (b_ns, b_if)):
        if ns is not None:
            run([IP, "link", "set", ifname, "netns", ns.name])
        argv = [IP, "link", "set", ifname, "up"] + (["mtu", str(mtu)] if mtu else [])
        (ns.run if ns is not None else run)(argv)


def veth_between(a_ns, a_if, b_ns, b_if, mtu=None):
    """Create a veth pair directly inside two namespaces (names never touch the root namespace).

    a_ns/b_ns are namespace names (str) or None for the calling namespace."""
    argv = [IP] + (["-n", a_ns] if a_ns else []) + ["link", "add", a_if]
    if mtu:
        argv += ["mtu", str(mtu)]
    argv += ["type", "veth", "peer", "name", b_if]
    if mtu:
        argv += ["mtu", str(mtu)]
    if b_ns:
        argv += ["netns", b_ns]
    elif a_ns:
        argv += ["netns", "1"]
    run(argv)


def ip_batch(ns_name, lines):
    """Run many `ip` commands in one process (ip -n NS -batch -)."""
    if not lines:
        return
    argv = [IP] + (["-n", ns_name] if ns_name else []) + ["-batch", "-"]
    run(argv, input="\n".join(lines) + "\n")
