# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the egress_snat module with a fake iptables-save/iptables-restore.

The fake keeps tables as iptables-save text (starting from recorded outputs) and applies a
restore payload line by line, as iptables-restore --noflush does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.sdn.egress.plugins.module_utils.iptables import Rule, parse_save, parse_snat_text, split_line
from ansible_collections.sdn.egress.plugins.modules import egress_snat

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "iptables")
CHAIN = "OPENSHIFT-MASQUERADE"
REJECT_CHAIN = "OPENSHIFT-FIREWALL-ALLOW"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class FakeIptables:
    """iptables-save / iptables-restore --noflush over parsed tables; records every call."""

    def __init__(self, *texts):
        self.tables = {}
        for text in texts:
            self.tables.update(parse_save(text))
        self.calls = []

    def save(self, table):
        t = self.tables.get(table)
        if t is None:
            return ""
        lines = ["*%s" % table] + [":%s - [0:0]" % c for c in t.chains]
        for chain in t.chains:
            lines.extend(t.rules[chain])
        return "\n".join(lines + ["COMMIT", ""])

    def restore(self, payload):
        table = None
        for line in payload.splitlines():
            if line.startswith("*"):
                table = self.tables[line[1:]]
            elif line.startswith(":"):
                chain = line[1:].split()[0]
                assert chain not in table.rules, "declaring an existing chain flushes it"
                table.chains.append(chain)
                table.rules[chain] = []
            elif line == "COMMIT":
                table = None
            else:
                op, chain, number, rest = line.split(" ", 3) if line.startswith("-I") else line.split(" ") + [None]
                rules = table.rules[chain]
                number = int(number)
                if op == "-D":
                    assert 1 <= number <= len(rules)
                    del rules[number - 1]
                else:
                    assert op == "-I" and 1 <= number <= len(rules) + 1
                    split_line(rest)
                    rules.insert(number - 1, "-A %s %s" % (chain, rest))

    def run_command(self, module, args, data=None, **kwargs):
        assert isinstance(args, list)
        self.calls.append((list(args), data))
        name = os.path.basename(args[0])
        if name.endswith("-save"):
            assert args[1:] == ["-t", args[2]]
            return 0, self.save(args[2]), ""
        assert name.endswith("-restore") and args[1:] == ["--noflush", "--wait", "30"]
        self.restore(data)
        return 0, "", ""

    @property
    def restores(self):
        return [data for argv, data in self.calls if argv[0].endswith("-restore")]

    def chain(self, table, chain):
        return list(self.tables[table].rules[chain])


@pytest.fixture
def fake(monkeypatch):
    state = FakeIptables(fixture("owned_nat_nft.txt"), fixture("owned_filter_nft.txt"))

    def run_command(module, args, data=None, **kwargs):
        return state.run_command(module, args, data=data, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kwargs: "/usr/sbin/" + name)
    return state


def run(args, check=False, diff=False, capsys=None):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            egress_snat.main()
    return json.loads(capsys.readouterr().out)


RULES = [
    {"mark": "0x6F7936", "egress_ip": "192.0.2.11", "name": "egress-test"},
    {"mark": 0x2EC40E, "egress_ip": "192.0.2.50", "name": "egress-test3"},
]


def test_present_then_unchanged_and_check_mode_predicts(fake, capsys):
    args = {"rules": RULES, "backend": "nft", "conflicts": "warn"}  # the fixture's hand-made rules stay
    before = fake.chain("nat", CHAIN)
    predicted = run(args, check=True, capsys=capsys)
    assert predicted["changed"] and fake.restores == [] and fake.chain("nat", CHAIN) == before

    first = run(args, capsys=capsys)
    assert first["changed"]
    assert first["commands"] == predicted["commands"]
    assert first["after"] == predicted["after"]
    assert fake.restores == ["\n".join(first["commands"])]
    assert fake.calls[-2][0][0] == "/usr/sbin/iptables-nft-restore"
    assert first["after"]["nat"] == fake.chain("nat", CHAIN)
    assert "filter" not in first["after"]          # present without reject_inbound: filter not read
    assert [c[0] for c in fake.calls if "-save" in c[0][0]][-1] == ["/usr/sbin/iptables-nft-save", "-t", "nat"]

    ours = [line for line in first["after"]["nat"] if '"sdn.egress egress-test' in line]
    assert ours == [
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment "sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50',
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment "sdn.egress egress-test" -j SNAT --to-source 192.0.2.11',
    ]
    # present deleted the owned 10.132.0.0/14 rule for the listed mark, kept other owned rules
    assert not any("10.132.0.0/14" in line for line in first["after"]["nat"])
    assert any("192.0.2.52" in line for line in first["after"]["nat"])
    assert first["after"]["nat"][-1].endswith("-j OPENSHIFT-MASQUERADE-2")
    assert first["after"]["nat"][0].endswith("--mark 0x1/0x1 -j RETURN")

    second = run(args, capsys=capsys)
    assert not second["changed"] and second["commands"] == [] and len(fake.restores) == 1


def test_overridden_with_reject_and_remove_conflicts(fake, capsys):
    args = {"rules": RULES, "state": "overridden", "remove_conflicts": True, "reject_inbound": True, "backend": "legacy"}
    result = run(args, diff=True, capsys=capsys)
    nat = fake.chain("nat", CHAIN)
    assert result["after"]["nat"] == nat
    assert nat == [
        "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN",
        "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1df6552 -j SNAT --to-source 192.0.2.12",
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x7 -m comment --comment "sdn.egressive" -j SNAT --to-source 192.0.2.53',
        "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x8 -m comment --comment plain_tag-1 -j SNAT --to-source 192.0.2.54",
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment "sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50',
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment "sdn.egress egress-test" -j SNAT --to-source 192.0.2.11',
        '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment "masquerade pod-to-external traffic" -j OPENSHIFT-MASQUERADE-2',
    ]
    assert fake.chain("filter", REJECT_CHAIN)[-2:] == [
        '-A OPENSHIFT-FIREWALL-ALLOW -d 192.0.2.50/32 -m conntrack --ctstate NEW -m comment --comment "sdn.egress egress-test3" '
        '-j REJECT --reject-with icmp-port-unreachable',
        '-A OPENSHIFT-FIREWALL-ALLOW -d 192.0.2.11/32 -m conntrack --ctstate NEW -m comment --comment "sdn.egress egress-test" '
        '-j REJECT --reject-with icmp-port-unreachable',
    ]
    assert len(fake.restores) == 1
    assert result["commands"][0] == "*nat" and "*filter" in result["commands"]
    assert result["diff"]["before"].startswith("*nat\n-A OPENSHIFT-MASQUERADE ")
    assert "*filter\n" in result["diff"]["after"]
    assert not run(args, capsys=capsys)["changed"]


def test_overridden_empty_removes_all_owned(fake, capsys):
    result = run({"state": "overridden"}, capsys=capsys)
    assert result["changed"]
    assert not [line for line in fake.chain("nat", CHAIN) if Rule(line).owned("sdn.egress")]
    assert not [line for line in fake.chain("filter", REJECT_CHAIN) if Rule(line).owned("sdn.egress")]
    assert len(fake.chain("nat", CHAIN)) == 8 and len(fake.chain("filter", REJECT_CHAIN)) == 2


def test_absent(fake, capsys):
    result = run({"state": "absent", "rules": [{"mark": "0x2ec40e"}]}, capsys=capsys)
    assert result["changed"]
    assert not [line for line in fake.chain("nat", CHAIN) if "egress-test3" in line]
    assert "-m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12" in " ".join(fake.chain("nat", CHAIN))  # foreign stays
    assert not [line for line in fake.chain("filter", REJECT_CHAIN) if "192.0.2.50" in line]
    assert not run({"state": "absent", "rules": [{"mark": "0x2ec40e"}]}, capsys=capsys)["changed"]
    # absent with an egress_ip that does not match leaves the rule
    assert not run({"state": "absent", "rules": [{"mark": 0, "egress_ip": "192.0.2.99"}]}, capsys=capsys)["changed"]
    assert run({"state": "absent", "rules": [{"mark": 0, "egress_ip": "192.0.2.51"}]}, capsys=capsys)["changed"]


def test_missing_chain(fake, capsys):
    args = {"chain": "EGRESS-SNAT", "rules": [{"mark": 7, "egress_ip": "198.51.100.7"}]}
    result = run(args, capsys=capsys)
    assert result["failed"] and "chain EGRESS-SNAT does not exist in the nat table" in result["msg"]
    assert fake.restores == []
    result = run(dict(args, create_chain=True), capsys=capsys)
    assert result["commands"] == [
        "*nat", ":EGRESS-SNAT - [0:0]",
        "-I EGRESS-SNAT 1 -s 10.128.0.0/14 -m mark --mark 0x7 -m comment --comment \"sdn.egress\" -j SNAT --to-source 198.51.100.7",
        "COMMIT"]
    assert not run(dict(args, create_chain=True), capsys=capsys)["changed"]
    # nothing to put there: a missing chain is fine
    assert not run({"chain": "NOPE", "reject_chain": "NOPE2", "state": "overridden"}, capsys=capsys)["changed"]


@pytest.mark.parametrize("args, message", [
    ({"rules": [{"mark": "0x1", "egress_ip": "192.0.2.1"}, {"mark": "0xzz", "egress_ip": "192.0.2.2"}]}, "rules[1].mark: 0xzz is not an integer"),
    ({"rules": [{"mark": "0x100000000", "egress_ip": "192.0.2.1"}]}, "rules[0].mark: 0x100000000 is out of range 0..4294967295"),
    ({"rules": [{"mark": "0x1", "egress_ip": "192.0.2.1"}, {"mark": 2, "egress_ip": "192.0.2.300"}]},
     "rules[1].egress_ip: 192.0.2.300 is not an IPv4 address"),
    ({"rules": [{"mark": "0x1"}]}, "rules[0].egress_ip: required with state=present"),
    ({"rules": [{"mark": "0x1", "egress_ip": "192.0.2.1"}, {"mark": 1, "egress_ip": "192.0.2.2"}]}, "rules[1].mark: 1 is the same mark as rules[0]"),
    ({"cluster_cidrs": ["10.128.0.0/14", "10.128.0.1/14"]}, "cluster_cidrs[1]: 10.128.0.1/14 has host bits set (the network is 10.128.0.0/14)"),
    ({"cluster_cidrs": []}, "cluster_cidrs: at least one network"),
    ({"rules": [{"mark": 1, "egress_ip": "192.0.2.1", "name": "a\nb"}]}, "rules[0].name: 'a\\nb' contains control characters"),
    ({"rules": [{"mark": 1, "egress_ip": "192.0.2.1", "name": "n" * 250}]}, "rules[0].name: comment 'sdn.egress nnn"),
    ({"owner": "my tag"}, "owner: 'my tag' must be non-empty and contain no blanks"),
    ({"chain": "-X"}, "chain: '-X' is not a valid chain name"),
    ({"reject_chain": "C" * 29}, "reject_chain: '%s' is not a valid chain name" % ("C" * 29)),
])
def test_bad_input_fails_before_anything(fake, capsys, args, message):
    result = run(args, capsys=capsys)
    assert result["failed"]
    assert result["msg"].startswith(message), result["msg"]
    assert fake.calls == []


def test_restore_failure_is_reported(fake, capsys, monkeypatch):
    def run_command(module, args, data=None, **kwargs):
        if args[0].endswith("-restore"):
            return 1, "", "iptables-restore: line 3 failed"
        return fake.run_command(module, args, data=data)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    result = run({"rules": RULES, "conflicts": "warn"}, capsys=capsys)
    assert result["failed"] and "line 3 failed" in result["msg"] and result["commands"][0] == "*nat"


def test_concurrent_change_is_detected(fake, capsys, monkeypatch):
    def run_command(module, args, data=None, **kwargs):
        out = fake.run_command(module, args, data=data)
        if args[0].endswith("-restore"):
            fake.tables["nat"].rules[CHAIN].insert(0, "-A %s -j RETURN" % CHAIN)
        return out

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    result = run({"rules": RULES, "conflicts": "warn"}, capsys=capsys)
    assert result["failed"] and "differs from the plan" in result["msg"]


# --- rules_text: the same rules as one string --------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("0x2EC40E 192.0.2.50 egress-test3",
     [(1, "0x2EC40E 192.0.2.50 egress-test3", {"mark": "0x2EC40E", "egress_ip": "192.0.2.50", "name": "egress-test3"})]),
    ("  7\t198.51.100.7  \r\n", [(1, "7\t198.51.100.7", {"mark": "7", "egress_ip": "198.51.100.7", "name": None})]),
    ("# mark ip name\n\n   \n  # indented\n0x1 192.0.2.1 a\n0x2\n",
     [(5, "0x1 192.0.2.1 a", {"mark": "0x1", "egress_ip": "192.0.2.1", "name": "a"}),
      (6, "0x2", {"mark": "0x2", "egress_ip": None, "name": None})]),
    ("", []),
    ("# only a comment\n\n", []),
])
def test_parse_rules_text(text, expected):
    assert parse_snat_text(text) == expected


def test_parse_rules_text_refuses_more_than_three_words():
    with pytest.raises(ValueError) as err:
        parse_snat_text("0x1 192.0.2.1 a\n\n0x2 192.0.2.2 two words\n")
    assert str(err.value).startswith("line 3: '0x2 192.0.2.2 two words': expected MARK EGRESS_IP [NAME], got 4 words")


def test_parse_rules_text_is_fast():
    text = "".join("0x%x 198.51.%d.%d ns-%05d\n" % (0x100 + i, i // 250, i % 250 + 1, i) for i in range(10000))
    started = time.perf_counter()
    rules = parse_snat_text(text)
    assert len(rules) == 10000 and time.perf_counter() - started < 1.0


def as_text(rules):
    """rules entries as rules_text lines, the way egress_plan writes them."""
    return "".join(" ".join(str(r[k]) for k in ("mark", "egress_ip", "name") if r.get(k) is not None) + "\n"
                   for r in rules)


@pytest.mark.parametrize("args", [
    {"conflicts": "warn"},
    {"state": "overridden", "remove_conflicts": True, "reject_inbound": True},
    {"reject_inbound": True, "backend": "legacy", "conflicts": "warn"},
])
def test_rules_text_gives_the_same_result_as_rules(monkeypatch, capsys, args):
    rules = RULES + [{"mark": 3064847, "egress_ip": "192.0.2.60"}]
    results, chains = [], []
    for form in ({"rules_text": as_text(rules)}, {"rules": rules}):
        state = FakeIptables(fixture("owned_nat_nft.txt"), fixture("owned_filter_nft.txt"))
        monkeypatch.setattr(basic.AnsibleModule, "run_command",
                            lambda module, argv, data=None, **kw: state.run_command(module, argv, data=data))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kwargs: "/usr/sbin/" + name)
        result = run(dict(args, **form), diff=True, capsys=capsys)
        del result["invocation"]
        results.append(result)
        chains.append((state.chain("nat", CHAIN), state.chain("filter", REJECT_CHAIN)))
        # the other form on the converged tables: nothing to do
        other = {"rules": rules} if "rules_text" in form else {"rules_text": as_text(rules)}
        assert not run(dict(args, **other), capsys=capsys)["changed"]
    assert results[0]["changed"] and results[0] == results[1]
    assert chains[0] == chains[1]


def test_rules_text_check_mode_then_converge_then_unchanged(fake, capsys):
    text = "# mark egress-ip name\n0x6F7936 192.0.2.11 egress-test\n\n0x2ec40e   192.0.2.50   egress-test3\n"
    before = fake.chain("nat", CHAIN)
    predicted = run({"rules_text": text, "conflicts": "warn"}, check=True, capsys=capsys)
    assert predicted["changed"] and fake.restores == [] and fake.chain("nat", CHAIN) == before
    first = run({"rules_text": text, "conflicts": "warn"}, capsys=capsys)
    assert first["commands"] == predicted["commands"] and first["after"]["nat"] == fake.chain("nat", CHAIN)
    assert '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment "sdn.egress egress-test" ' \
           '-j SNAT --to-source 192.0.2.11' in first["after"]["nat"]
    assert not run({"rules_text": text, "conflicts": "warn"}, capsys=capsys)["changed"]


@pytest.mark.parametrize("text", ["", "\n", "# nothing here\n"])
def test_rules_text_without_rules_overridden_removes_all_owned(fake, capsys, text):
    result = run({"state": "overridden", "rules_text": text}, capsys=capsys)
    assert result["changed"]
    assert not [line for line in fake.chain("nat", CHAIN) if Rule(line).owned("sdn.egress")]
    assert not [line for line in fake.chain("filter", REJECT_CHAIN) if Rule(line).owned("sdn.egress")]
    assert len(fake.chain("nat", CHAIN)) == 8 and len(fake.chain("filter", REJECT_CHAIN)) == 2


def test_rules_text_absent_with_mark_only(fake, capsys):
    result = run({"state": "absent", "rules_text": "0x2ec40e\n"}, capsys=capsys)
    assert result["changed"]
    assert not [line for line in fake.chain("nat", CHAIN) if "egress-test3" in line]
    assert not run({"state": "absent", "rules": [{"mark": "0x2ec40e"}]}, capsys=capsys)["changed"]


@pytest.mark.parametrize("args, message", [
    ({"rules_text": "0x1 192.0.2.1\n0xzz 192.0.2.2 b\n"},
     "rules_text line 2: '0xzz 192.0.2.2 b': mark: 0xzz is not an integer"),
    ({"rules_text": "0x100000000 192.0.2.1"}, "rules_text line 1: '0x100000000 192.0.2.1': mark: 0x100000000 is out of range 0..4294967295"),
    ({"rules_text": "# c\n0x1 192.0.2.1\n2 192.0.2.300 x\n"},
     "rules_text line 3: '2 192.0.2.300 x': egress_ip: 192.0.2.300 is not an IPv4 address"),
    ({"rules_text": "0x1"}, "rules_text line 1: '0x1': egress_ip: required with state=present"),
    ({"rules_text": "0x1 192.0.2.1\n1 192.0.2.2\n"},
     "rules_text line 2: '1 192.0.2.2': mark: '1' is the same mark as rules_text line 1; one mark can SNAT to one IP only"),
    ({"rules_text": "1 192.0.2.1 %s" % ("n" * 250)}, "rules_text line 1: '1 192.0.2.1 nnn"),
    ({"rules_text": "1 192.0.2.1 name with blanks"},
     "rules_text line 1: '1 192.0.2.1 name with blanks': expected MARK EGRESS_IP [NAME], got 5 words"),
    ({"rules_text": "0x1 192.0.2.1", "rules": []}, "parameters are mutually exclusive: rules|rules_text"),
])
def test_rules_text_bad_input_fails_before_anything(fake, capsys, args, message):
    result = run(args, capsys=capsys)
    assert result["failed"]
    assert result["msg"].startswith(message), result["msg"]
    assert fake.calls == []


@pytest.mark.parametrize("reject_inbound", [False, True])
def test_report_undeclared_is_what_overridden_then_deletes(fake, capsys, reject_inbound):
    args = {"rules": RULES, "backend": "nft", "reject_inbound": reject_inbound, "conflicts": "warn"}
    present = run(dict(args, report_undeclared=True), check=True, capsys=capsys)
    assert fake.restores == []
    if not reject_inbound:  # present alone would not read the filter table; the report needs it
        assert [c[0][-1] for c in fake.calls if "-save" in c[0][0]] == ["nat", "filter"]
    present = run(dict(args, report_undeclared=True), capsys=capsys)
    undeclared = present["undeclared"]
    assert undeclared and all(Rule(line).owned("sdn.egress") for line in undeclared)
    assert any("--to-source 192.0.2.51" in line for line in undeclared)
    assert any(line.startswith("-A OPENSHIFT-FIREWALL-ALLOW -d 192.0.2.50/32") for line in undeclared) != reject_inbound
    before = fake.chain("nat", CHAIN) + fake.chain("filter", REJECT_CHAIN)
    overridden = run(dict(args, state="overridden"), capsys=capsys)
    assert overridden["changed"]
    after = fake.chain("nat", CHAIN) + fake.chain("filter", REJECT_CHAIN)
    assert sorted(set(before) - set(after)) == sorted(undeclared)
    again = run(dict(args, report_undeclared=True), capsys=capsys)
    assert again["undeclared"] == [] and not again["changed"]
    assert "undeclared" not in run(dict(args, state="overridden", report_undeclared=True), capsys=capsys)


# --- masquerade_cluster, gathered, rendered ------------------------------------------------

def test_masquerade_cluster_check_mode_converge_unchanged_and_off_again(fake, capsys):
    args = {"rules": RULES, "masquerade_cluster": True, "backend": "nft", "conflicts": "warn"}
    before = fake.chain("nat", CHAIN)
    predicted = run(args, check=True, diff=True, capsys=capsys)
    assert predicted["changed"] and fake.restores == [] and fake.chain("nat", CHAIN) == before
    assert "-j MASQUERADE" in predicted["diff"]["after"] and "-j MASQUERADE\n" not in predicted["diff"]["before"]
    first = run(args, capsys=capsys)
    assert first["commands"] == predicted["commands"] and first["after"] == predicted["after"]
    nat = fake.chain("nat", CHAIN)
    assert first["after"]["nat"] == nat
    for mark, ip, name in (("0x2ec40e", "192.0.2.50", "egress-test3"), ("0x6f7936", "192.0.2.11", "egress-test")):
        masq = ('-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark %s -m comment --comment '
                '"sdn.egress %s" -j MASQUERADE' % (mark, name))
        snat = ('-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark %s -m comment --comment "sdn.egress %s" '
                '-j SNAT --to-source %s' % (mark, name, ip))
        assert nat.index(masq) + 1 == nat.index(snat)
    second = run(args, capsys=capsys)
    assert not second["changed"] and second["commands"] == [] and len(fake.restores) == 1
    off = run(dict(args, masquerade_cluster=False), capsys=capsys)
    assert off["changed"] and [c.split()[0] for c in off["commands"] if c.startswith("-")] == ["-D", "-D"]
    assert not [line for line in fake.chain("nat", CHAIN) if line.endswith("-j MASQUERADE")]


def test_gathered_reads_and_changes_nothing(fake, capsys):
    for check in (False, True):
        result = run({"state": "gathered", "backend": "legacy"}, check=check, capsys=capsys)
        assert result["changed"] is False and "commands" not in result and "before" not in result
        assert result["gathered"]["rules"][0] == {"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"}
        assert result["gathered"]["reject_ips"] == ["192.0.2.50"] and result["gathered"]["masquerade_cluster"] is False
    assert fake.restores == []
    assert [c[0] for c in fake.calls] == [["/usr/sbin/iptables-legacy-save", "-t", "nat"],
                                          ["/usr/sbin/iptables-legacy-save", "-t", "filter"]] * 2


def test_gathered_refuses_rules(fake, capsys):
    result = run({"state": "gathered", "rules": RULES}, capsys=capsys)
    assert result["failed"] and result["msg"] == "rules: not used with state=gathered (it reads what is there)"
    assert fake.calls == []


def test_rendered_needs_no_iptables(monkeypatch, capsys):
    def nothing_to_run(*args, **kwargs):
        raise AssertionError("rendered ran or looked for a command: %r" % (args,))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", nothing_to_run)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", nothing_to_run)
    result = run({"state": "rendered", "rules_text": "0x2EC40E 192.0.2.50 egress-test3\n",
                  "masquerade_cluster": True}, capsys=capsys)
    assert result["changed"] is False and "failed" not in result, result
    assert result["rendered"] == [
        "*nat",
        '-I OPENSHIFT-MASQUERADE 1 -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment '
        '"sdn.egress egress-test3" -j MASQUERADE',
        '-I OPENSHIFT-MASQUERADE 2 -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment '
        '"sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50',
        "COMMIT"]


def test_without_netaddr_the_module_says_so(fake, capsys, monkeypatch):
    monkeypatch.setattr(egress_snat, "HAS_NETADDR", False)
    monkeypatch.setattr(egress_snat, "NETADDR_IMPORT_ERROR", ImportError("No module named 'netaddr'"))
    for state in ("present", "rendered"):
        result = run({"state": state, "rules": RULES}, capsys=capsys)
        assert result["failed"] and result["msg"].startswith("Failed to import the required Python library (netaddr)")
    assert fake.calls == []


# --- conflicts: foreign rules above ours that catch a listed mark ---------------------------

# the fixture's foreign rules above the anchor for the listed marks (0x6f7936, 0x2ec40e)
SHADOWING = [
    ("-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12", "0x2ec40e"),
    ("-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.11", "0x6f7936"),
    ("-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.12", "0x6f7936"),
]


@pytest.mark.parametrize("check", [False, True])
def test_conflicts_fail_by_default_before_any_change(fake, capsys, check):
    before = fake.save("nat") + fake.save("filter")
    result = run({"rules": RULES, "reject_inbound": True}, check=check, diff=True, capsys=capsys)
    assert result["failed"] and fake.restores == [] and fake.save("nat") + fake.save("filter") == before
    assert [(c["rule"], c["mark"]) for c in result["conflicts"]] == SHADOWING
    assert result["conflicts"][0]["name"] == "egress-test3" and "same mark" in result["conflicts"][0]["reason"]
    assert "3 foreign rule(s)" in result["msg"] and SHADOWING[0][0] in result["msg"]
    assert "mark 0x2ec40e (egress-test3)" in result["msg"] and "conflicts=remove" in result["msg"]


def test_conflicts_warn_leaves_them_and_says_so(fake, capsys, monkeypatch):
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warned.append(text))
    result = run({"rules": RULES, "conflicts": "warn"}, capsys=capsys)
    assert result["changed"] and not result.get("failed")
    assert [(c["rule"], c["mark"]) for c in result["conflicts"]] == SHADOWING
    assert len(warned) == 3 and all(text.startswith("left in place (conflicts=warn): rule ") for text in warned)
    assert SHADOWING[0][0] in warned[0] and "mark 0x2ec40e (egress-test3)" in warned[0]
    after = fake.chain("nat", CHAIN)
    assert all(rule in after for rule, mark in SHADOWING)
    changed = set(result["before"]["nat"]) ^ set(after)
    assert changed and all(Rule(line).owned("sdn.egress") for line in changed)  # only ours changed


@pytest.mark.parametrize("args", [{"conflicts": "remove"}, {"remove_conflicts": True}])
def test_conflicts_remove_deletes_them_check_mode_and_diff_show_it(fake, capsys, args):
    args = dict(args, rules=RULES)
    predicted = run(args, check=True, diff=True, capsys=capsys)
    assert fake.restores == [] and predicted["changed"]
    for rule, mark in SHADOWING:
        assert rule in predicted["diff"]["before"] and rule not in predicted["diff"]["after"]
    result = run(args, capsys=capsys)
    assert result["commands"] == predicted["commands"]
    after = fake.chain("nat", CHAIN)
    assert not any(rule in after for rule, mark in SHADOWING)
    assert "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1df6552 -j SNAT --to-source 192.0.2.12" in after
    again = run(args, capsys=capsys)
    assert not again["changed"] and again["conflicts"] == []


def test_conflicts_warn_with_remove_conflicts_is_refused(fake, capsys):
    result = run({"rules": RULES, "conflicts": "warn", "remove_conflicts": True}, capsys=capsys)
    assert result["failed"] and "remove_conflicts" in result["msg"] and fake.restores == []


def test_conflict_message_escapes_the_name(fake, capsys):
    rules = [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "evil"}]
    fake.tables["nat"].rules[CHAIN].insert(0, '-A %s -m comment --comment "x\ty" -j ACCEPT' % CHAIN)
    result = run({"rules": rules}, capsys=capsys)
    assert result["failed"] and "no mark match" in result["msg"]
