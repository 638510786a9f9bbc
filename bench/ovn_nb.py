#!/usr/bin/env python3
"""Converge cost of N EgressService reroute policies in a real OVN northbound ovsdb-server:
the collection's way (module_utils/ovn.py: one ovn-nbctl read, one write transaction, one
read-back), ovsdbapp (the OVSDB IDL library Neutron uses; optional, needs `pip install ovsdbapp`
in the Python given by --ovsdbapp-python), and the by-hand way (one `ovn-nbctl lr-policy-add`
per endpoint). Cold = empty router; warm = every policy already there (nothing to write).

    bench/ovn_nb.py [--sizes 10,100,1000] [--ovsdbapp-python PY]

Each measurement starts its own ovsdb-server in a temporary directory and stops it by PID.
Prints one JSON object per line.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
from ansible_collections.sdn.egress.plugins.module_utils import ovn  # noqa: E402

SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
OVSDBAPP = r'''
import sys, time
from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.ovn_northbound import impl_idl
db, n = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
idl = connection.OvsdbIdl.from_server(db, "OVN_Northbound")
api = impl_idl.OvnNbApiIdlImpl(connection.Connection(idl, timeout=60))
t1 = time.monotonic()
want = {("ip4.src == 10.%d.%d.%d" % (131 + i // 65536, (i // 256) % 256, i % 256)): "10.131.255.2" for i in range(n)}
have = {p.match: p for p in api.tables["Logical_Router_Policy"].rows.values()
        if p.external_ids.get("sdn.egress/owner") == "bench"}
generic = sys.argv[3] == "generic"
with api.transaction(check_error=True) as txn:
    for match, hop in want.items():
        if match in have:
            continue
        ids = {"EgressSVC": "bench/svc", "sdn.egress/owner": "bench"}
        if generic:   # db_create + db_add: no per-policy duplicate scan
            row = txn.add(api.db_create("Logical_Router_Policy", priority=101, match=match, action="reroute",
                                        nexthops=[hop], external_ids=ids))
            txn.add(api.db_add("Logical_Router", "ovn_cluster_router", "policies", row))
        else:
            txn.add(api.lr_policy_add("ovn_cluster_router", 101, match, "reroute", nexthops=[hop], external_ids=ids))
t2 = time.monotonic()
print("%f %f" % (t1 - t0, t2 - t1))
'''


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ovnnb-bench-")
        self.db = "unix:%s/nb.sock" % self.dir
        self.pidfile = os.path.join(self.dir, "pid")
        subprocess.run(["ovsdb-tool", "create", os.path.join(self.dir, "nb.db"), SCHEMA], check=True)
        subprocess.run(["ovsdb-server", os.path.join(self.dir, "nb.db"), "--remote=punix:%s/nb.sock" % self.dir,
                        "--pidfile=%s" % self.pidfile, "--unixctl=%s/ctl" % self.dir, "--detach", "-vconsole:off",
                        "--log-file=%s/log" % self.dir], check=True)
        self.nbctl("--no-wait", "init", "--", "lr-add", "ovn_cluster_router")

    def nbctl(self, *args):
        return subprocess.run(["ovn-nbctl", "--db=%s" % self.db] + list(args), check=True, capture_output=True,
                              text=True).stdout

    def count(self):
        return len(self.nbctl("--bare", "--columns=_uuid", "list", "Logical_Router_Policy").split())

    def stop(self):
        with open(self.pidfile) as f:
            os.kill(int(f.read()), signal.SIGTERM)


class Module:
    """Just enough of AnsibleModule for NbCtl (subprocess, argv lists)."""

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def run_command(self, argv, data=None, environ_update=None, expand_user_and_vars=False):
        proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **(environ_update or {})))
        return proc.returncode, proc.stdout, proc.stderr


def policies(n):
    return [{"priority": 101, "match": "ip4.src == 10.%d.%d.%d" % (131 + i // 65536, (i // 256) % 256, i % 256),
             "action": "reroute", "nexthops": ["10.131.255.2"], "external_ids": {"EgressSVC": "bench/svc"}}
            for i in range(n)]


def collection(server, n):
    spec = ovn.validate({"router": "ovn_cluster_router", "owner": "bench", "state": "overridden",
                         "policies": policies(n)})
    cli = ovn.NbCtl(Module(), server.db)
    t0 = time.monotonic()
    res = ovn.converge(spec, cli, False)
    return time.monotonic() - t0, res["changed"], cli.calls


def by_hand(server, n):
    t0 = time.monotonic()
    for p in policies(n):
        server.nbctl("lr-policy-add", "ovn_cluster_router", "101", p["match"], "reroute", p["nexthops"][0])
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--ovsdbapp-python")
    args = ap.parse_args()
    for n in [int(x) for x in args.sizes.split(",")]:
        s = Server()
        try:
            cold, changed, calls = collection(s, n)
            warm, changed2, calls2 = collection(s, n)
            assert s.count() == n and changed and not changed2
            print(json.dumps({"n": n, "way": "collection (ovn-nbctl)", "cold_s": round(cold, 3),
                              "warm_s": round(warm, 3), "processes_cold": calls, "processes_warm": calls2}))
        finally:
            s.stop()
        for mode in ("lr_policy_add", "generic") if args.ovsdbapp_python else ():
            s = Server()
            try:
                out = [subprocess.run([args.ovsdbapp_python, "-c", OVSDBAPP, s.db, str(n), mode], check=True,
                                      capture_output=True, text=True).stdout.split() for _ in range(2)]
                assert s.count() == n
                print(json.dumps({"n": n, "way": "ovsdbapp (%s)" % mode, "connect_cold_s": round(float(out[0][0]), 3),
                                  "cold_s": round(float(out[0][0]) + float(out[0][1]), 3),
                                  "warm_s": round(float(out[1][0]) + float(out[1][1]), 3)}))
            finally:
                s.stop()
        s = Server()
        try:
            t = by_hand(s, n)
            assert s.count() == n
            print(json.dumps({"n": n, "way": "by hand (ovn-nbctl lr-policy-add per endpoint)", "cold_s": round(t, 3),
                              "processes_cold": n}))
        finally:
            s.stop()


if __name__ == "__main__":
    main()
