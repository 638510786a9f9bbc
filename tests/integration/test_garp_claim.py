# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.garp_claim through ansible-playbook, on a bridge with three namespaces.

    node A (eth0 192.0.2.11) --+
    node B (eth0 192.0.2.12) --+-- br0 192.0.2.1 in the observer namespace

The observer keeps a neighbour entry for 192.0.2.50 pointing at node B's MAC and captures ARP
frames on br0 with a raw socket. A capture ends when a sentinel frame (an announcement for
192.0.2.99 from node A) arrives: frames on one path are delivered in order, so whatever the run
under test sent has been seen by then, and "nothing was sent" needs no sleeping.
"""
import json
import os
import select
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
EGRESS_IP = "192.0.2.50"
SENTINEL_IP = "192.0.2.99"

CAPTURE = r"""
import json, socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.sdn.egress.plugins.module_utils import garp
SO_TIMESTAMPNS = 35  # kernel receive time as struct timespec (Linux)
ifname, sentinel, deadline = sys.argv[2], sys.argv[3], time.monotonic() + float(sys.argv[4])
sock = garp.open_socket(ifname)
sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
print("ready", flush=True)
frames = []
while time.monotonic() < deadline:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        data, ancillary, _flags, _addr = sock.recvmsg(2048, 64)
    except socket.timeout:
        break
    arp = garp.parse_arp_frame(data)
    if arp is None:
        continue
    if arp["sender_ip"] == sentinel:
        print(json.dumps({"frames": frames, "sentinel": True}))
        sys.exit(0)
    for level, kind, value in ancillary:
        if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS):
            sec, nsec = struct.unpack("qq", value[:16])
            arp["time"] = sec + nsec / 1e9
    frames.append(arp)
print(json.dumps({"frames": frames, "sentinel": False}))
"""

SEND_SENTINEL = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sdn.egress.plugins.module_utils import garp
mac = open("/sys/class/net/eth0/address").read().strip()
sock = garp.open_socket("eth0")
sock.send(garp.announcement("request", mac, sys.argv[2]))
"""


class Lan:
    def __init__(self, make_netns):
        self.obs = make_netns("addro")
        self.a = make_netns("addra")
        self.b = make_netns("addrb")
        self.obs.run(["ip", "link", "add", "br0", "type", "bridge"])
        self.obs.run(["ip", "link", "set", "br0", "up"])
        self.obs.run(["ip", "addr", "add", "192.0.2.1/24", "dev", "br0"])
        for ns, port, cidr in ((self.a, "pa", "192.0.2.11/24"), (self.b, "pb", "192.0.2.12/24")):
            ns.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.obs.name])
            ns.run(["ip", "link", "set", "eth0", "up"])
            ns.run(["ip", "addr", "add", cidr, "dev", "eth0"])
            self.obs.run(["ip", "link", "set", port, "master", "br0"])
            self.obs.run(["ip", "link", "set", port, "up"])
        self.mac_a = self.mac(self.a)
        self.mac_b = self.mac(self.b)
        # an existing entry: GARP updates it even with the default arp_accept=0
        self.obs.run(["ip", "neigh", "replace", EGRESS_IP, "lladdr", self.mac_b, "dev", "br0", "nud", "stale"])

    @staticmethod
    def mac(ns):
        return json.loads(ns.run(["ip", "-j", "link", "show", "eth0"]).stdout)[0]["address"]

    def neighbour(self):
        entries = json.loads(self.obs.run(["ip", "-j", "neigh", "show", EGRESS_IP, "dev", "br0"]).stdout)
        return entries[0].get("lladdr") if entries else None

    def wait_neighbour(self, mac, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.neighbour() == mac:
                return True
            time.sleep(0.05)
        return False

    def capture(self, timeout=60.0):
        """Start an ARP capture in the observer; returns the process once it listens."""
        proc = self.obs.popen([sys.executable, "-c", CAPTURE, COLLECTIONS, "br0", SENTINEL_IP, str(timeout)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = select.select([proc.stdout], [], [], 15)[0]
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            raise AssertionError("capture did not start: %r %s" % (line, proc.stderr.read()))
        return proc

    def frames(self, proc):
        """Send the sentinel from node A and return the frames captured before it."""
        self.a.run([sys.executable, "-c", SEND_SENTINEL, COLLECTIONS, SENTINEL_IP])
        out, err = proc.communicate(timeout=70)
        doc = json.loads(out)
        assert doc["sentinel"], "sentinel frame never arrived: %s" % err
        return doc["frames"]


@pytest.fixture
def lan(make_netns):
    return Lan(make_netns)


def garp_task(**args):
    return [{"name": "garp_claim", "sdn.egress.garp_claim": dict({"address": EGRESS_IP}, **args)}]


def about(frames, ip):
    return [f for f in frames if ip in (f["sender_ip"], f["target_ip"])]


@pytest.mark.parametrize("mode,forms", [("both", ["reply", "request"]), ("reply", ["reply"]),
                                        ("request", ["request"])])
def test_claim_and_announce_moves_the_neighbour_entry(lan, ansible, mode, forms):
    assert lan.neighbour() == lan.mac_b
    proc = lan.capture()
    tasks = [{"name": "claim", "sdn.egress.egress_addr": {"address": EGRESS_IP, "node_ip": "192.0.2.11"}}]
    tasks += garp_task(mode=mode, count=2, interval=0.3)
    res = ansible(tasks, netns=lan.a)
    assert res.rc == 0, res
    claim, announce = res.results
    assert claim["claimed"][0]["interface"] == "eth0"
    assert announce["changed"] is True
    assert announce["sent"] == 2 * len(forms)
    assert announce["mac"] == lan.mac_a and announce["interface"] == "eth0"
    assert [f["op"] for f in announce["frames"]] == forms
    assert announce["probe"]["performed"] is False

    assert lan.wait_neighbour(lan.mac_a), "observer still has %s" % lan.neighbour()

    wire = about(lan.frames(proc), EGRESS_IP)
    ops = {1: "request", 2: "reply"}
    assert [ops[f["op"]] for f in wire] == forms * 2
    for f in wire:
        assert f["eth_dst"] == "ff:ff:ff:ff:ff:ff" and f["eth_src"] == lan.mac_a
        assert f["sender_mac"] == lan.mac_a and f["sender_ip"] == EGRESS_IP and f["target_ip"] == EGRESS_IP
        assert f["target_mac"] == (lan.mac_a if f["op"] == 2 else "00:00:00:00:00:00")
    gap = wire[len(forms)]["time"] - wire[len(forms) - 1]["time"]
    assert gap >= 0.25, "bursts %.3f s apart, interval was 0.3" % gap


def test_check_mode_sends_nothing(lan, ansible):
    lan.a.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0", "label", "eth0:sdne"])
    proc = lan.capture()
    res = ansible(garp_task(probe=True), netns=lan.a, check=True, diff=True)
    assert res.rc == 0, res
    out = res.last
    assert out["changed"] is True and out["sent"] == 0
    assert out["probe"]["performed"] is False
    assert [f["op"] for f in out["frames"]] == ["reply", "request"]
    assert out["diff"]["after"] == "announce %s is-at %s on eth0: 3 x reply+request\n" % (EGRESS_IP, lan.mac_a)
    assert about(lan.frames(proc), EGRESS_IP) == []
    assert lan.neighbour() == lan.mac_b


def test_check_mode_before_the_claim_assumes_the_network_interface(lan, ansible):
    tasks = [{"name": "claim", "sdn.egress.egress_addr": {"address": EGRESS_IP}}] + garp_task()
    res = ansible(tasks, netns=lan.a, check=True)
    assert res.rc == 0, res
    assert res.last["interface"] == "eth0" and res.last["sent"] == 0
    assert any("check mode assumes interface eth0" in w for w in res.last.get("warnings", []))


def test_unclaimed_address_is_refused(lan, ansible):
    res = ansible(garp_task(), netns=lan.a)
    assert res.rc != 0
    assert res.last["msg"] == ("address: %s is not configured on any interface; claim it first "
                               "(sdn.egress.egress_addr) or set interface" % EGRESS_IP)
    assert res.last["sent"] == 0


def test_probe_finds_the_other_holder_and_announces_nothing(lan, ansible):
    lan.b.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0"])
    lan.a.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0", "label", "eth0:sdne"])
    proc = lan.capture()
    res = ansible(garp_task(probe=True, probe_timeout=2.0), netns=lan.a)
    assert res.rc != 0, res
    out = res.last
    assert out["failed"] is True
    assert lan.mac_b in out["msg"] and "nothing was announced" in out["msg"]
    assert out["probe"]["performed"] is True and out["probe"]["conflict"] is True
    assert out["probe"]["conflicting_mac"] == lan.mac_b
    assert out["sent"] == 0

    wire = about(lan.frames(proc), EGRESS_IP)
    probes = [f for f in wire if f["sender_ip"] == "0.0.0.0"]
    assert probes and all(f["sender_mac"] == lan.mac_a and f["target_ip"] == EGRESS_IP for f in probes)
    assert [f for f in wire if f["sender_mac"] == lan.mac_a and f["sender_ip"] == EGRESS_IP] == []
    assert lan.neighbour() == lan.mac_b


def test_probe_without_other_holder_then_announces(lan, ansible):
    lan.a.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0", "label", "eth0:sdne"])
    res = ansible(garp_task(probe=True, probe_count=2, probe_timeout=0.5, count=1), netns=lan.a)
    assert res.rc == 0, res
    assert res.last["probe"] == {"performed": True, "probes_sent": 2, "conflict": False, "conflicting_mac": None,
                                 "answer": None}
    assert res.last["sent"] == 2
    assert lan.wait_neighbour(lan.mac_a)


def test_addresses_are_announced_together_in_shared_bursts(lan, ansible):
    """Two claimed addresses, one call: every burst carries both, so the run takes `count`
    bursts in all; the neighbour entry moves and both addresses are on the wire twice."""
    second = "192.0.2.51"
    assert lan.neighbour() == lan.mac_b
    proc = lan.capture()
    tasks = [{"name": "claim", "sdn.egress.egress_addr": {"addresses": [EGRESS_IP, second], "node_ip": "192.0.2.11"}},
             {"name": "announce", "sdn.egress.garp_claim": {
                 "addresses": "{{ claim_result.claimed | map(attribute='address') | list }}",
                 "count": 2, "interval": 0.3, "mode": "reply", "return_frames": False}}]
    tasks[0]["register"] = "claim_result"
    res = ansible(tasks, netns=lan.a)
    assert res.rc == 0, res
    announce = res.last
    assert announce["sent"] == 4
    assert "frames" not in announce  # return_frames=false: left out of the result, still sent (below)
    assert sorted(a["address"] for a in announce["announced"]) == [EGRESS_IP, second]
    assert all(a["interface"] == "eth0" and a["mac"] == lan.mac_a for a in announce["announced"])
    assert "mac" not in announce
    assert lan.wait_neighbour(lan.mac_a)
    frames = lan.frames(proc)
    wire = [f["sender_ip"] for f in frames if f["sender_ip"] in (EGRESS_IP, second)]
    assert sorted(wire[:2]) == sorted(wire[2:]) == [EGRESS_IP, second], wire
    gap = about(frames, EGRESS_IP)[1]["time"] - about(frames, EGRESS_IP)[0]["time"]
    assert gap >= 0.25, "bursts %.3f s apart, interval was 0.3" % gap


def test_claim_with_announce_sends_for_what_it_claimed_only(lan, ansible):
    """As the role runs it: egress_addr claims and announces in one run (return_entries=false);
    the neighbour entry moves; a second run claims nothing and sends nothing; check mode neither."""
    assert lan.neighbour() == lan.mac_b
    args = {"addresses": [EGRESS_IP], "node_ip": "192.0.2.11", "return_entries": False,
            "announce": True, "announce_count": 2, "announce_interval": 0.2, "announce_mode": "reply"}
    check = ansible([{"name": "claim", "sdn.egress.egress_addr": args}], netns=lan.a, check=True)
    assert check.rc == 0 and check.last["changed"] is True and check.last["announced"] == 0, check
    proc = lan.capture()
    res = ansible([{"name": "claim", "sdn.egress.egress_addr": args}], netns=lan.a)
    assert res.rc == 0, res
    assert res.last["claimed_addresses"] == [EGRESS_IP] and res.last["announced"] == 2, res.last
    assert lan.wait_neighbour(lan.mac_a)
    wire = about(lan.frames(proc), EGRESS_IP)
    assert len(wire) == 2 and all(f["sender_mac"] == lan.mac_a and f["op"] == 2 for f in wire)  # 2: reply, wire
    again = ansible([{"name": "claim", "sdn.egress.egress_addr": args}], netns=lan.a)
    assert again.rc == 0 and again.last["changed"] is False and again.last["announced"] == 0, again.last


def test_claim_with_announce_refuses_a_link_without_arp(lan, ansible):
    """A claim on a down link is made (and reported), the announce fails naming the interface."""
    lan.a.run(["ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1"])  # both ends left down
    lan.a.run(["ip", "addr", "add", "203.0.113.1/24", "dev", "dum0"])
    res = ansible([{"name": "claim", "sdn.egress.egress_addr": {
        "address": "203.0.113.9", "announce": True}}], netns=lan.a)
    assert res.rc != 0 and res.last["failed"] is True
    assert res.last["msg"] == "interface: dum0 is down; cannot announce 203.0.113.9 with ARP", res.last
    assert res.last["claimed_addresses"] == ["203.0.113.9"] and res.last["changed"] is True


def test_addresses_reject_bad_item_and_probe(lan, ansible):
    bad = ansible([{"name": "g", "sdn.egress.garp_claim": {"addresses": [EGRESS_IP, "192.0.2.300"]}}], netns=lan.a)
    assert bad.rc != 0 and "addresses[1]" in bad.last["msg"] and "192.0.2.300" in bad.last["msg"], bad
    both = ansible([{"name": "g", "sdn.egress.garp_claim": {"addresses": [EGRESS_IP], "probe": True}}], netns=lan.a)
    assert both.rc != 0 and "mutually exclusive" in both.last["msg"], both
    empty = ansible([{"name": "g", "sdn.egress.garp_claim": {"addresses": []}}], netns=lan.a)
    assert empty.rc == 0 and not empty.changed and empty.last["sent"] == 0, empty


def without_net_raw(netns, workdir):
    """An interpreter wrapper that runs the module in `netns` as root without CAP_NET_RAW
    (dropped from the bounding and inheritable sets before Python starts)."""
    path = os.path.join(workdir, "python-%s-no-net-raw" % netns.name)
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec setpriv --bounding-set -net_raw --inh-caps -net_raw %s "$@"\n' % netns.python)
    os.chmod(path, 0o755)
    return path


def test_no_raw_socket_permission_is_named_and_nothing_is_sent(lan, ansible, tmp_path):
    """Both modules open their sockets the same way: without CAP_NET_RAW each fails naming the
    interface and the permission; garp_claim sends nothing, egress_addr keeps (and reports) its
    claim; the wire stays quiet."""
    python = without_net_raw(lan.a, str(tmp_path))
    lan.a.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0"])
    proc = lan.capture()
    garp_run = ansible([{"name": "g", "sdn.egress.garp_claim": {"address": EGRESS_IP, "count": 1}}],
                       play_vars={"ansible_python_interpreter": python})
    assert garp_run.rc != 0 and garp_run.last["sent"] == 0, garp_run
    assert garp_run.last["msg"].startswith(
        "cannot open a raw ARP socket on eth0 (needs root or CAP_NET_RAW): [Errno 1]"), garp_run.last
    claim = ansible([{"name": "claim", "sdn.egress.egress_addr": {
        "addresses": ["192.0.2.51"], "node_ip": "192.0.2.11", "announce": True, "announce_count": 1}}],
        play_vars={"ansible_python_interpreter": python})
    assert claim.rc != 0 and claim.last["claimed_addresses"] == ["192.0.2.51"], claim
    assert claim.last["msg"].startswith(
        "cannot open a raw ARP socket on eth0 (needs root or CAP_NET_RAW): [Errno 1]"), claim.last
    assert "192.0.2.51/24" in lan.a.run(["ip", "-o", "addr", "show", "dev", "eth0"]).stdout
    wire = lan.frames(proc)
    assert about(wire, EGRESS_IP) == [] and about(wire, "192.0.2.51") == [], wire
    assert lan.neighbour() == lan.mac_b  # nothing moved it


def probes_text(addresses, interface="-", owner="ns1", known=None):
    return "".join("%s %s %s%s\n" % (a, interface, owner, " " + known if known else "") for a in addresses)


MANY = ["192.0.2.%d" % n for n in range(100, 200)]  # 100 free addresses in node A's network


def test_probe_only_many_free_addresses_in_parallel(lan, ansible):
    """100 addresses, 3 bursts 0.5 s apart and 1 s of listening: the run takes about 2 s, not
    100 x 2 s; nothing is claimed or announced, so the observer's entry stays on node B."""
    proc = lan.capture()
    res = ansible([{"name": "p", "sdn.egress.garp_claim": {
        "probes_text": probes_text(MANY), "probe_interval": 0.5, "probe_listen": 1.0, "node": "node-a"}}],
        netns=lan.a)
    assert res.rc == 0, res
    out = res.last
    assert out["changed"] is False and out["conflicts"] == [] and out["sent"] == 0
    assert out["probe"]["probes_sent"] == 300
    assert [p["interface"] for p in out["probed"]] == ["eth0"] * 100
    assert 2.0 <= out["seconds"] < 3.5, out["seconds"]
    wire = lan.frames(proc)
    probes = [f for f in wire if f["sender_ip"] == "0.0.0.0" and f["target_ip"] in MANY]
    assert len(probes) == 300 and all(f["sender_mac"] == lan.mac_a for f in probes)
    assert [f for f in wire if f["sender_ip"] in MANY] == []  # no announcement
    addrs = json.loads(lan.a.run(["ip", "-j", "-4", "addr", "show", "dev", "eth0"]).stdout)[0]["addr_info"]
    assert [a["local"] for a in addrs] == ["192.0.2.11"]
    assert lan.neighbour() == lan.mac_b


@pytest.mark.parametrize("check", [False, True])
def test_probe_only_names_the_other_holder(lan, ansible, check):
    """Node B holds one of the 100 addresses: its reply to node A's probe fails the run naming
    the address, B's MAC, the namespace and the node; check mode probes as well."""
    held = MANY[37]
    lan.b.run(["ip", "addr", "add", held + "/24", "dev", "eth0"])
    before = lan.a.run(["ip", "-4", "-j", "addr"]).stdout
    res = ansible([{"name": "p", "sdn.egress.garp_claim": {
        "probes_text": probes_text(MANY, interface="eth0", owner="payments"), "probe_interval": 0.3,
        "probe_listen": 1.0, "node": "node-a"}}], netns=lan.a, check=check)
    assert res.rc != 0, res
    out = res.last
    assert out["conflicts"] == [{"address": held, "interface": "eth0", "mac": lan.mac_b, "op": "reply",
                                 "owners": ["payments"]}]
    assert out["msg"] == ("%s (egress IP of namespace payments) is in use by another host: MAC %s sent an ARP "
                          "reply for it while node node-a probed on eth0; nothing was claimed" % (held, lan.mac_b))
    assert lan.a.run(["ip", "-4", "-j", "addr"]).stdout == before


def test_probe_only_a_known_mac_is_not_a_conflict(lan, ansible):
    """The MAC of a node of ours that gives the address up in the same run may answer."""
    lan.b.run(["ip", "addr", "add", EGRESS_IP + "/24", "dev", "eth0"])
    res = ansible([{"name": "p", "sdn.egress.garp_claim": {
        "probes_text": probes_text([EGRESS_IP], known=lan.mac_b), "probe_count": 2, "probe_interval": 0.3,
        "probe_listen": 0.5}}], netns=lan.a)
    assert res.rc == 0, res
    assert res.last["conflicts"] == [] and res.last["probe"]["probes_sent"] == 2


def test_probe_only_refuses_bad_lines_and_empty_probes_nothing(lan, ansible):
    bad = ansible([{"name": "p", "sdn.egress.garp_claim": {"probes_text": "192.0.2.5 eth0"}}], netns=lan.a)
    assert bad.rc != 0 and bad.last["msg"].startswith("probes_text: line 1: '192.0.2.5 eth0' is not")
    outside = ansible([{"name": "p", "sdn.egress.garp_claim": {"probes_text": "198.51.100.7 - ns9\n"}}], netns=lan.a)
    assert outside.rc != 0 and outside.last["msg"].startswith(
        "probes_text: 198.51.100.7 (declared by ns9): address: 198.51.100.7 is not in the local network")
    empty = ansible([{"name": "p", "sdn.egress.garp_claim": {"probes_text": ""}}], netns=lan.a)
    assert empty.rc == 0 and empty.last["probed"] == [] and empty.last["seconds"] == 0.0
