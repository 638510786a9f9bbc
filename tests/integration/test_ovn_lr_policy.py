# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.ovn_lr_policy through ansible-playbook against a real OVN northbound ovsdb-server
started for each test in its own run directory (unix socket; one test over tcp and one over ssl
with certificates made by openssl), stopped by its PID. Results are checked with ovn-nbctl."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
OWNER = "sdn.egress/test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nb:
    def __init__(self, rundir, remotes=(), ssl=None):
        self.rundir = rundir
        os.makedirs(rundir, exist_ok=True)
        self.sock = os.path.join(rundir, "nb.sock")
        self.db = "unix:" + self.sock
        self.pidfile = os.path.join(rundir, "nb.pid")
        subprocess.run(["ovsdb-tool", "create", os.path.join(rundir, "nb.db"), SCHEMA], check=True)
        argv = ["ovsdb-server", os.path.join(rundir, "nb.db"), "--remote=punix:%s" % self.sock,
                "--pidfile=%s" % self.pidfile, "--unixctl=%s" % os.path.join(rundir, "nb.ctl"),
                "--log-file=%s" % os.path.join(rundir, "nb.log"), "--detach", "-vconsole:off"]
        argv += ["--remote=%s" % r for r in remotes]
        if ssl:
            argv += ["--private-key=%s" % ssl["key"], "--certificate=%s" % ssl["cert"], "--ca-cert=%s" % ssl["ca"]]
        subprocess.run(argv, check=True, env=dict(os.environ, OVS_RUNDIR=rundir))
        self.nbctl("--no-wait", "init")

    def nbctl(self, *args):
        return subprocess.run(["ovn-nbctl", "--db=%s" % self.db] + list(args), capture_output=True, text=True,
                              check=True).stdout

    def policies(self, router="ovn_cluster_router"):
        doc = json.loads(self.nbctl("--format=json", "--columns=priority,match,action,nexthops,external_ids",
                                    "list", "Logical_Router_Policy"))
        return sorted((r[0], r[1], r[2], r[3] if isinstance(r[3], str) else tuple(sorted(x for x in r[3][1])),
                       tuple(sorted(map(tuple, r[4][1])))) for r in doc["data"])

    def stop(self):
        with open(self.pidfile) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def nb(workdir):
    server = Nb(os.path.join(workdir, "nb"))
    server.nbctl("lr-add", "ovn_cluster_router", "--", "lr-add", "other_router")
    # a foreign policy, as OVN-Kubernetes writes them, and one on another router
    server.nbctl("lr-policy-add", "ovn_cluster_router", "102", "ip4.src == 10.131.0.0/16 && ip4.dst == 10.131.0.0/16",
                 "allow")
    server.nbctl("lr-policy-add", "other_router", "101", "ip4.src == 10.131.1.10", "drop")
    yield server
    server.stop()


def svc_policies(*endpoints, nexthop="10.131.2.2"):
    out = []
    for ep in endpoints:
        fam = "ip6" if ":" in ep else "ip4"
        out.append({"priority": 101, "match": "%s.src == %s" % (fam, ep), "action": "reroute",
                    "nexthops": [nexthop], "external_ids": {"EgressSVC": "shop/web"}})
    return out


def task(nb, state="overridden", policies=(), **extra):
    args = dict({"db": nb.db, "owner": OWNER, "state": state, "policies": list(policies)}, **extra)
    return [{"name": "policies", "sdn.egress.ovn_lr_policy": args}]


def test_converge_idempotent_check_and_diff(nb, ansible):
    before = nb.policies()
    pols = svc_policies("10.131.1.10", "10.131.3.11", "fd00:131:1::10", nexthop="10.131.2.2")
    pols[2]["nexthops"] = ["fd00:131:2::2"]
    pols.append({"priority": 102, "match": "ip4.src == $a_svc && ip4.dst == $a_nodes", "action": "allow",
                 "options": {"pkt_mark": "1008"}})
    res = ansible(task(nb, policies=pols), check=True, diff=True)
    assert res.rc == 0 and res.changed, res
    assert nb.policies() == before                         # check mode wrote nothing
    assert "ip6.src == fd00:131:1::10  reroute  fd00:131:2::2" in res.last["diff"]["after"]
    assert len(res.last["created"]) == 4

    res = ansible(task(nb, policies=pols))
    assert res.rc == 0 and res.changed, res
    after = nb.policies()
    owned = [p for p in after if (("sdn.egress/owner", OWNER) in p[4])]
    assert len(owned) == 4
    assert (101, "ip4.src == 10.131.1.10", "reroute", "10.131.2.2",
            (("EgressSVC", "shop/web"), ("sdn.egress/owner", OWNER))) in owned
    assert set(before) <= set(after)                       # foreign policies untouched
    listing = nb.nbctl("lr-policy-list", "ovn_cluster_router")
    assert "pkt_mark=1008" in listing and "fd00:131:2::2" in listing

    again = ansible(task(nb, policies=pols), diff=True)
    assert again.rc == 0 and not again.changed and again.last["commands"] == [], again
    assert nb.policies() == after


def test_overridden_moves_and_prunes_only_owned(nb, ansible):
    ansible(task(nb, policies=svc_policies("10.131.1.10", "10.131.3.11")))
    foreign = [p for p in nb.policies() if ("sdn.egress/owner", OWNER) not in p[4]]
    # holder moved (next hop changes in place), one endpoint gone
    res = ansible(task(nb, policies=svc_policies("10.131.1.10", nexthop="10.131.3.2")), diff=True)
    assert res.rc == 0 and res.changed, res
    assert [p["match"] for p in res.last["updated"]] == ["ip4.src == 10.131.1.10"]
    assert [p["match"] for p in res.last["deleted"]] == ["ip4.src == 10.131.3.11"]
    assert "-  101  ip4.src == 10.131.3.11" not in res.last["diff"]["after"]
    owned = [p for p in nb.policies() if ("sdn.egress/owner", OWNER) in p[4]]
    assert [(p[1], p[3]) for p in owned] == [("ip4.src == 10.131.1.10", "10.131.3.2")]
    assert [p for p in nb.policies() if ("sdn.egress/owner", OWNER) not in p[4]] == foreign
    # another owner's policies are foreign to this one
    ansible(task(nb, policies=svc_policies("10.131.9.9"), owner="someone.else"))
    res = ansible(task(nb, state="absent"))
    assert res.rc == 0 and [p["match"] for p in res.last["deleted"]] == ["ip4.src == 10.131.1.10"], res
    left = nb.policies()
    assert any(("sdn.egress/owner", "someone.else") in p[4] for p in left)
    assert not any(("sdn.egress/owner", OWNER) in p[4] for p in left)
    assert ansible(task(nb, state="absent")).changed is False


def test_conflict_with_a_foreign_policy_fails_and_adopt_takes_it(nb, ansible):
    clash = {"priority": 102, "match": "ip4.src == 10.131.0.0/16 && ip4.dst == 10.131.0.0/16", "action": "allow",
             "options": {"pkt_mark": "1008"}}
    before = nb.policies()
    res = ansible(task(nb, policies=svc_policies("10.131.1.10") + [clash]))
    assert res.rc != 0
    assert "priority 102 match ip4.src == 10.131.0.0/16 && ip4.dst == 10.131.0.0/16: a policy not owned by " \
           "sdn.egress/test has them (no owner" in res.last["msg"], res
    assert nb.policies() == before                         # nothing written, not even the valid one
    res = ansible(task(nb, policies=[clash], adopt=True))
    assert res.rc == 0 and len(res.last["updated"]) == 1, res
    assert "pkt_mark=1008" in nb.nbctl("lr-policy-list", "ovn_cluster_router")


def test_validation_names_every_field_and_value(nb, ansible):
    bad = [{"priority": 40000, "match": "ip4.src == 1.2.3.4", "action": "allow"},
           {"priority": 101, "match": "ip4.src == 1.2.3.5", "action": "reroute", "nexthops": ["10.0.0.300"]},
           {"priority": 101, "match": "ip4.src == 1.2.3.6", "action": "reroute"},
           {"priority": 101, "match": "ip4.src == 1.2.3.7", "action": "allow",
            "external_ids": {"sdn.egress/owner": "me"}},
           {"priority": 101, "match": "ip4.src == 1.2.3.8", "action": "drop"},
           {"priority": 101, "match": "ip4.src  ==  1.2.3.8", "action": "allow"}]
    res = ansible(task(nb, policies=bad))
    assert res.rc != 0
    msg = res.last["msg"]
    for part in ("policies[0].priority: 40000 is out of range 0..32767",
                 "policies[1].nexthops[0]: 10.0.0.300 is not an IP address",
                 "policies[2].nexthops: [] is empty",
                 "policies[3].external_ids.sdn.egress/owner: me is set by the module",
                 "policies[5]: priority 101 and match ip4.src  ==  1.2.3.8 repeat policies[4]"):
        assert part in msg, msg


def test_missing_router_and_gathered_and_rendered(nb, ansible):
    res = ansible(task(nb, policies=svc_policies("10.131.1.10"), router="nosuch"))
    assert res.rc != 0 and "router: nosuch is not a logical router" in res.last["msg"], res
    ansible(task(nb, policies=svc_policies("10.131.1.10")))
    res = ansible(task(nb, state="gathered"))
    got = res.last["gathered"]
    assert [p["match"] for p in got["policies"]] == ["ip4.src == 10.131.1.10"]
    assert [p["priority"] for p in got["foreign"]] == [102]
    res = ansible(task(nb, state="rendered", policies=svc_policies("10.131.1.10"), db="unix:/nonexistent"))
    assert res.rc == 0, res
    assert res.last["rendered"].startswith("--id=@p0 create Logical_Router_Policy priority=101")


def test_tcp_endpoint(workdir, ansible):
    port = free_port()
    server = Nb(os.path.join(workdir, "nbtcp"), remotes=["ptcp:%d:127.0.0.1" % port])
    try:
        server.nbctl("lr-add", "ovn_cluster_router")
        res = ansible([{"name": "p", "sdn.egress.ovn_lr_policy": {
            "db": "tcp:127.0.0.1:%d" % port, "owner": OWNER, "policies": svc_policies("10.131.1.10")}}])
        assert res.rc == 0 and res.changed, res
        assert len(server.policies()) == 1
    finally:
        server.stop()


def test_ssl_endpoint_with_certificates(workdir, ansible):
    d = os.path.join(workdir, "pki")
    os.makedirs(d)
    ssl = {k: os.path.join(d, "%s.pem" % k) for k in ("key", "cert", "ca")}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=nb-test",
                    "-keyout", ssl["key"], "-out", ssl["cert"]], check=True, capture_output=True)
    subprocess.run(["cp", ssl["cert"], ssl["ca"]], check=True)
    port = free_port()
    server = Nb(os.path.join(workdir, "nbssl"), remotes=["pssl:%d:127.0.0.1" % port], ssl=ssl)
    try:
        server.nbctl("lr-add", "ovn_cluster_router")
        args = {"db": "ssl:127.0.0.1:%d" % port, "owner": OWNER, "policies": svc_policies("10.131.1.10"),
                "private_key": ssl["key"], "certificate": ssl["cert"], "ca_cert": ssl["ca"], "timeout": 10}
        res = ansible([{"name": "p", "sdn.egress.ovn_lr_policy": args}])
        assert res.rc == 0 and res.changed, res
        assert len(server.policies()) == 1
        no_certs = {k: v for k, v in args.items() if k not in ("private_key", "certificate", "ca_cert")}
        res = ansible([{"name": "p", "sdn.egress.ovn_lr_policy": no_certs}])
        assert res.rc != 0, res
    finally:
        server.stop()
