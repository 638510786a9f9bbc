# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""egress_addr's command handling with a fake `ip` (the paths a real kernel rarely shows)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.sdn.egress.plugins.modules import egress_addr

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ip")
IP = "/usr/sbin/ip"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def after_overridden_to_198_51_100_51():
    """claimed.json after `overridden [198.51.100.51]`: our three addresses gone, one added."""
    doc = json.loads(fixture("claimed.json"))
    for iface in doc:
        iface["addr_info"] = [a for a in iface["addr_info"] if not a.get("label", "").endswith(":sdne")]
        if iface["ifname"] == "ens19":
            iface["addr_info"].append({"family": "inet", "local": "198.51.100.51", "prefixlen": 24,
                                       "scope": "global", "secondary": True, "label": "ens19:sdne"})
    return json.dumps(doc)


def two_nics_with(address, ifname="ens19", prefix=24):
    """two_nics.json after claiming address on ifname (what `ip -j addr show` reads back)."""
    doc = json.loads(fixture("two_nics.json"))
    for iface in doc:
        if iface["ifname"] == ifname:
            iface["addr_info"].append({"family": "inet", "local": address, "prefixlen": prefix,
                                       "scope": "global", "secondary": True, "label": ifname + ":sdne"})
    return json.dumps(doc)


class FakeIp:
    """Answers `ip -j addr show` from recorded outputs (one per call, last one repeats) and
    records what `ip -batch -` was given."""

    def __init__(self, shows, batch_answer=(0, "")):
        self.shows = list(shows)
        self.batch_answer = batch_answer  # (rc, stderr) of `ip -force -batch -`
        self.calls = []
        self.batches = []

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if argv[1:] == ["-j", "addr", "show"]:
            return 0, self.shows.pop(0) if len(self.shows) > 1 else self.shows[0], ""
        assert argv[1:] == ["-force", "-batch", "-"], argv
        self.batches.append(kwargs["data"])
        rc, err = self.batch_answer
        return rc, "", err


def run(monkeypatch, capsys, args, fake, check=False):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False: IP)
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            egress_addr.main()
    return json.loads(capsys.readouterr().out)


def test_claim_runs_add_and_reads_back(monkeypatch, capsys):
    fake = FakeIp([fixture("two_nics.json"), two_nics_with("198.51.100.50")])
    out = run(monkeypatch, capsys, {"address": "198.51.100.50"}, fake)
    assert out["changed"] is True and not out.get("failed"), out
    assert fake.calls == [[IP, "-j", "addr", "show"], [IP, "-force", "-batch", "-"], [IP, "-j", "addr", "show"]]
    assert fake.batches == ["addr add 198.51.100.50/24 dev ens19 label ens19:sdne\n"]
    assert out["commands"] == ["addr add 198.51.100.50/24 dev ens19 label ens19:sdne"]
    assert "".join(line + "\n" for line in out["commands"]) == fake.batches[0]  # what ran, line by line
    assert out["claimed_addresses"] == ["198.51.100.50"]
    assert out["after"] == out["claimed"] == [
        {"address": "198.51.100.50", "interface": "ens19", "prefix": 24, "label": "ens19:sdne"}]


def test_return_entries_false_leaves_out_the_dicts_not_the_changes(monkeypatch, capsys):
    fake = FakeIp([fixture("two_nics.json"), two_nics_with("198.51.100.50")])
    out = run(monkeypatch, capsys, {"address": "198.51.100.50", "return_entries": False}, fake)
    assert out["changed"] is True and not out.get("failed"), out
    assert "claimed" not in out and "released" not in out
    assert out["claimed_addresses"] == ["198.51.100.50"]
    assert out["commands"] == ["addr add 198.51.100.50/24 dev ens19 label ens19:sdne"]


def test_check_mode_runs_only_the_read(monkeypatch, capsys):
    fake = FakeIp([fixture("two_nics.json")])
    out = run(monkeypatch, capsys, {"address": "198.51.100.50"}, fake, check=True)
    assert out["changed"] is True and fake.calls == [[IP, "-j", "addr", "show"]]
    assert out["after"] == out["claimed"]


def test_concurrent_add_and_delete_are_success(monkeypatch, capsys):
    """Errors from `ip` do not matter when the addresses read back are what was planned."""
    fake = FakeIp([fixture("claimed.json"), after_overridden_to_198_51_100_51()],
                  (1, "Error: ipv4: Address already assigned.\nCommand failed -:4"))
    out = run(monkeypatch, capsys, {"addresses": "198.51.100.51", "state": "overridden"}, fake)
    assert "failed" not in out, out
    assert len(out["commands"]) == 4  # three releases, one claim
    assert len(fake.batches) == 1 and fake.batches[0].count("\n") == 4
    assert fake.batches[0].splitlines()[-1] == "addr add 198.51.100.51/24 dev ens19 label ens19:sdne"
    assert [e["address"] for e in out["after"]] == ["198.51.100.51"]


def test_failing_command_reports_what_ran(monkeypatch, capsys):
    fake = FakeIp([fixture("claimed.json")], (1, "Error: Nexthop device is not up.\nCommand failed -:4"))
    out = run(monkeypatch, capsys, {"addresses": ["198.51.100.51"], "state": "overridden"}, fake)
    assert out["failed"] is True
    assert out["msg"] == ("ip -batch (rc=1) left the addresses differing from the plan: "
                          "Error: Nexthop device is not up.\nCommand failed -:4")
    assert len(out["commands"]) == 4 and out["changed"] is True


def test_plan_error_changes_nothing(monkeypatch, capsys):
    fake = FakeIp([fixture("two_nics.json")])
    out = run(monkeypatch, capsys, {"addresses": ["198.51.100.50", "203.0.113.5"]}, fake)
    assert out["failed"] is True and out["changed"] is False
    assert "203.0.113.5 is not in the local network of any interface" in out["msg"]
    assert fake.calls == [[IP, "-j", "addr", "show"]]


def test_ip_failure_is_reported(monkeypatch, capsys):
    out = run(monkeypatch, capsys, {"address": "198.51.100.50"}, lambda argv, **kw: (1, "", "Cannot open netlink"))
    assert out["msg"] == "%s -j addr show failed (rc=1): Cannot open netlink" % IP


def test_declared_reports_what_overridden_would_release(monkeypatch, capsys):
    """Ours are 192.0.2.51, 198.51.100.50 and 203.0.113.77; one is wanted, one declared elsewhere."""
    fake = FakeIp([fixture("claimed.json")])
    out = run(monkeypatch, capsys, {"addresses": "198.51.100.50", "declared": "198.51.100.50,203.0.113.77"}, fake)
    assert out["changed"] is False and not out.get("failed"), out
    assert out["undeclared"] == ["192.0.2.51"]  # 192.0.2.52 and .60 carry other labels: not ours
    assert fake.calls == [[IP, "-j", "addr", "show"]]  # reported, not released


def test_declared_all_leaves_nothing_undeclared_and_is_validated(monkeypatch, capsys):
    fake = FakeIp([fixture("claimed.json")])
    out = run(monkeypatch, capsys, {"addresses": ["198.51.100.50"],
                                    "declared": ["192.0.2.51", "203.0.113.77"]}, fake)
    assert out["undeclared"] == [] and not out.get("failed"), out
    out = run(monkeypatch, capsys, {"addresses": ["198.51.100.50"]}, FakeIp([fixture("claimed.json")]))
    assert "undeclared" not in out
    fake = FakeIp([fixture("claimed.json")])
    out = run(monkeypatch, capsys, {"addresses": ["198.51.100.50"], "declared": ["192.0.2.51", "192.0.2.999"]}, fake)
    assert out["failed"] is True and out["msg"] == "declared[1]: 192.0.2.999 is not an IPv4 address"
    assert fake.calls == []


def test_named_groups_claim_in_the_same_run_on_their_interface(monkeypatch, capsys):
    """One read, one batch: 198.51.100.50 goes to its network's interface, the named group to
    ens18 as /32 (outside every local network, allowed because interface and prefix are named)."""
    after = json.loads(two_nics_with("198.51.100.50"))
    for iface in after:
        if iface["ifname"] == "ens18":
            iface["addr_info"].append({"family": "inet", "local": "203.0.113.7", "prefixlen": 32,
                                       "scope": "global", "label": "ens18:sdne"})
    fake = FakeIp([fixture("two_nics.json"), json.dumps(after)])
    out = run(monkeypatch, capsys, {"addresses": "198.51.100.50", "declared": "198.51.100.50",
                                    "named": [{"interface": "ens18", "prefix": 32, "addresses": "203.0.113.7"}]}, fake)
    assert out["changed"] is True and not out.get("failed"), out
    assert fake.calls == [[IP, "-j", "addr", "show"], [IP, "-force", "-batch", "-"], [IP, "-j", "addr", "show"]]
    assert fake.batches == ["addr add 198.51.100.50/24 dev ens19 label ens19:sdne\n"
                            "addr add 203.0.113.7/32 dev ens18 label ens18:sdne\n"]
    assert out["claimed_addresses"] == ["198.51.100.50", "203.0.113.7"]
    assert out["undeclared"] == []  # the group's addresses count as declared


def test_named_only_and_overridden_keeps_the_groups_addresses(monkeypatch, capsys):
    """Ours in claimed.json: 192.0.2.51, 198.51.100.50, 203.0.113.77. Overridden with a group
    that wants 198.51.100.50 on ens19 (where it is) releases the other two, not that one."""
    fake = FakeIp([fixture("claimed.json")])
    out = run(monkeypatch, capsys, {"state": "overridden",
                                    "named": [{"interface": "ens19", "addresses": ["198.51.100.50"]}]}, fake, check=True)
    assert not out.get("failed"), out
    assert sorted(e["address"] for e in out["released"]) == ["192.0.2.51", "203.0.113.77"], out
    assert out["claimed"] == []


@pytest.mark.parametrize("args, msg", [
    ({"addresses": ["198.51.100.50"], "named": [{"interface": "ens18", "addresses": ["198.51.100.50"]}]},
     "named[0].addresses[0]: 198.51.100.50 is also requested in addresses"),
    ({"named": [{"interface": "ens18", "addresses": ["203.0.113.7"]},
                {"interface": "ens19", "prefix": 32, "addresses": ["203.0.113.8", "203.0.113.7"]}]},
     "named[1].addresses[1]: 203.0.113.7 is also requested in named[0]"),
    ({"named": [{"interface": "ens18", "prefix": 33, "addresses": ["203.0.113.7"]}]},
     "named[0].prefix: 33 is out of range 1..32"),
    ({"named": [{"interface": "ens18", "addresses": ["203.0.113.300"]}]},
     "named[0].addresses[0]: 203.0.113.300 is not an IPv4 address"),
    ({"named": [{"interface": "bad name", "addresses": ["203.0.113.7"]}]}, "named[0].interface: "),
    ({"address": "198.51.100.50", "announce": True, "announce_count": 0}, "announce_count: 0 must be at least 1"),
    ({"address": "198.51.100.50", "announce": True, "announce_interval": 61.0},
     "announce_interval: 61.0 must be between 0 and 60 seconds"),
    ({"addresses": ["198.51.100.50"], "state": "absent", "named": [{"interface": "ens18", "addresses": ["203.0.113.7"]}]},
     "named: not allowed with state=absent (release with addresses)"),
])
def test_bad_named_groups_fail_naming_the_field_before_reading(monkeypatch, capsys, args, msg):
    fake = FakeIp([fixture("two_nics.json")])
    out = run(monkeypatch, capsys, args, fake)
    assert out["failed"] is True and out["msg"].startswith(msg), out
    assert fake.calls == []


def test_announce_is_counted_as_zero_when_nothing_is_sent(monkeypatch, capsys):
    """check mode, and a run that claims nothing, send no frame (no socket is opened)."""
    out = run(monkeypatch, capsys, {"address": "198.51.100.50", "announce": True}, FakeIp([fixture("two_nics.json")]),
              check=True)
    assert out["changed"] is True and out["announced"] == 0, out
    out = run(monkeypatch, capsys, {"address": "198.51.100.200", "announce": True}, FakeIp([fixture("two_nics.json")]))
    assert out["changed"] is False and out["announced"] == 0, out
    out = run(monkeypatch, capsys, {"address": "198.51.100.200"}, FakeIp([fixture("two_nics.json")]))
    assert "announced" not in out


def test_without_netaddr_the_module_says_so_before_reading(monkeypatch, capsys):
    monkeypatch.setattr(egress_addr, "HAS_NETADDR", False)
    monkeypatch.setattr(egress_addr, "NETADDR_IMPORT_ERROR", ImportError("No module named 'netaddr'"))
    fake = FakeIp([fixture("two_nics.json")])
    out = run(monkeypatch, capsys, {"address": "198.51.100.50"}, fake)
    assert out["failed"] is True and out["msg"].startswith("Failed to import the required Python library (netaddr)")
    assert fake.calls == []
