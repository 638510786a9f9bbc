# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SNAT policy (plugins/module_utils/snat.py) against recorded iptables-save outputs:
what is wanted, what goes, where the MASQUERADE rules of masquerade_cluster sit, and the
gathered/rendered states."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import snat
from ansible_collections.sdn.egress.plugins.module_utils.iptables import Rule, parse_save, render_masquerade, render_snat

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "iptables")
CHAIN = "OPENSHIFT-MASQUERADE"
REJECT_CHAIN = "OPENSHIFT-FIREWALL-ALLOW"
RETURN = "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
ANCHOR = ('-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment "masquerade pod-to-external traffic" '
          '-j OPENSHIFT-MASQUERADE-2')
C1, C2 = "10.128.0.0/14", "10.132.0.0/14"
# the hand-made 4.8 pair of masquerade_nat_*.txt (no comment: foreign)
FOREIGN_MASQ = "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x6f7936 -j MASQUERADE"
FOREIGN_SNAT = "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.11"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def params(**overrides):
    """egress_snat's parameters with the argument spec's defaults."""
    base = dict(chain=CHAIN, anchor_target="OPENSHIFT-MASQUERADE-2", create_chain=False, cluster_cidrs=[C1],
                rules=[], rules_text=None, state="present", owner="sdn.egress", remove_conflicts=False,
                reject_inbound=False, reject_chain=REJECT_CHAIN, masquerade_cluster=False, backend="auto",
                return_state=True, report_undeclared=False)
    base.update(overrides)
    return base


def spec(**overrides):
    return snat.validate(params(**overrides))


def reader(*texts):
    tables = {}
    for text in texts:
        tables.update(parse_save(text))
    return tables.get


def chain_of(*lines):
    """read() for a nat table holding exactly these OPENSHIFT-MASQUERADE lines."""
    return reader("*nat\n:%s - [0:0]\n%sCOMMIT\n" % (CHAIN, "".join(line + "\n" for line in lines)))


def masq(mark, name, cidr=C1):
    return render_masquerade(CHAIN, cidr, mark, "sdn.egress " + name)


def snat_rule(mark, ip, name, cidr=C1):
    return render_snat(CHAIN, cidr, mark, ip, "sdn.egress " + name)


RULES = [{"mark": "0x6F7936", "egress_ip": "192.0.2.11", "name": "egress-test"},
         {"mark": 0x2EC40E, "egress_ip": "192.0.2.50", "name": "egress-test3"}]


# --- masquerade_cluster ------------------------------------------------------------------

def test_masquerade_rules_sit_right_above_their_marks_snat_rules():
    wanted = spec(rules=RULES, cluster_cidrs=[C1, C2], masquerade_cluster=True)
    assert snat.nat_block(wanted) == [
        masq("0x2ec40e", "egress-test3"), masq("0x2ec40e", "egress-test3", C2),
        snat_rule("0x2ec40e", "192.0.2.50", "egress-test3"), snat_rule("0x2ec40e", "192.0.2.50", "egress-test3", C2),
        masq("0x6f7936", "egress-test"), masq("0x6f7936", "egress-test", C2),
        snat_rule("0x6f7936", "192.0.2.11", "egress-test"), snat_rule("0x6f7936", "192.0.2.11", "egress-test", C2),
    ]
    plans, payload = snat.plan(wanted, chain_of(RETURN, ANCHOR))
    assert plans["nat"].after == [RETURN] + snat.nat_block(wanted) + [ANCHOR]
    assert [line.split(" ", 3)[:3] for line in payload[1:-1]] == [["-I", CHAIN, str(n)] for n in range(2, 10)]
    assert payload[0] == "*nat" and payload[-1] == "COMMIT"
    # converged: nothing to do
    assert snat.plan(wanted, chain_of(*plans["nat"].after))[1] == []


def test_masquerade_rule_out_of_place_is_moved_back_above_its_snat_rule():
    wanted = spec(rules=RULES[1:], masquerade_cluster=True)
    good = [masq("0x2ec40e", "egress-test3"), snat_rule("0x2ec40e", "192.0.2.50", "egress-test3")]
    for current in ([RETURN, good[1], good[0], ANCHOR], [RETURN, good[1], ANCHOR, good[0]], [good[0], RETURN, good[1], ANCHOR]):
        plans, payload = snat.plan(wanted, chain_of(*current))
        assert payload and plans["nat"].after[-3:] == good + [ANCHOR], current
        assert snat.plan(wanted, chain_of(*plans["nat"].after))[1] == []


def test_foreign_masquerade_rules_are_never_touched():
    current = reader(fixture("masquerade_nat_nft.txt"))
    for state in ("present", "overridden"):
        plans, dummy = snat.plan(spec(rules=RULES, masquerade_cluster=True, state=state, remove_conflicts=True), current)
        after = plans["nat"].after
        assert FOREIGN_MASQ in after
        assert FOREIGN_SNAT not in after  # remove_conflicts removes the foreign SNAT of a listed mark only
    plans, dummy = snat.plan(spec(state="overridden"), current)
    assert plans["nat"].after == [RETURN, FOREIGN_MASQ, FOREIGN_SNAT, ANCHOR]


def test_masquerade_off_deletes_the_owned_masquerade_rules_of_listed_marks_only():
    current = reader(fixture("masquerade_nat_legacy.txt"))
    plans, dummy = snat.plan(spec(rules=RULES[1:]), current)
    after = plans["nat"].after
    assert masq("0x2ec40e", "egress-test3") not in after
    assert snat_rule("0x2ec40e", "192.0.2.50", "egress-test3") in after
    # 0xffffffff is not listed: present leaves its owned MASQUERADE and SNAT rules alone
    unlisted = [line for line in after if "--mark 0xffffffff" in line]
    assert [Rule(line).target for line in unlisted] == ["MASQUERADE", "SNAT"]
    # overridden deletes them
    plans, dummy = snat.plan(spec(rules=RULES[1:], state="overridden"), current)
    assert not [line for line in plans["nat"].after if "--mark 0xffffffff" in line]


def test_masquerade_on_keeps_the_recorded_owned_pair_and_adds_the_missing_one():
    current = reader(fixture("masquerade_nat_nft.txt"))
    plans, payload = snat.plan(spec(rules=RULES, masquerade_cluster=True), current)
    after = plans["nat"].after
    listed = [line for line in after if Rule(line).owned("sdn.egress") and Rule(line).mark in ("0x2ec40e", "0x6f7936")]
    assert listed == [masq("0x2ec40e", "egress-test3"), snat_rule("0x2ec40e", "192.0.2.50", "egress-test3"),
                      masq("0x6f7936", "egress-test"), snat_rule("0x6f7936", "192.0.2.11", "egress-test")]
    assert not any(op.startswith("-D") for op in payload)  # the recorded pair stays where it is
    assert [op.split()[0] for op in payload if op.startswith("-")] == ["-I", "-I"]
    # present leaves the unlisted owned pair (0xffffffff) where it is, among ours
    unlisted = render_masquerade(CHAIN, C2, "0xffffffff", "sdn.egress")
    assert after.index(listed[1]) < after.index(unlisted) < after.index(listed[2]) < after.index(ANCHOR)


def test_absent_takes_a_marks_masquerade_rules_with_its_last_snat_rule():
    pair = [masq("0x2ec40e", "egress-test3"), snat_rule("0x2ec40e", "192.0.2.50", "egress-test3")]
    second = snat_rule("0x2ec40e", "192.0.2.51", "egress-test3", C2)  # an owned second SNAT rule of the mark
    current = chain_of(RETURN, pair[0], pair[1], second, ANCHOR)
    # the 192.0.2.50 rule goes, the mark still SNATs through the other one: its MASQUERADE rule stays
    plans, dummy = snat.plan(spec(state="absent", rules=[{"mark": "0x2ec40e", "egress_ip": "192.0.2.50"}]), current)
    assert plans["nat"].after == [RETURN, pair[0], second, ANCHOR]
    # both named: the MASQUERADE rule goes too
    both = [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50"}, {"mark": "0x2ec40e", "egress_ip": "192.0.2.51"}]
    plans, dummy = snat.plan(spec(state="absent", rules=both), current)
    assert plans["nat"].after == [RETURN, ANCHOR]
    # the mark alone names all of them
    plans, dummy = snat.plan(spec(state="absent", rules=[{"mark": "0x2ec40e"}]), current)
    assert plans["nat"].after == [RETURN, ANCHOR]
    # another mark: nothing
    assert snat.plan(spec(state="absent", rules=[{"mark": "0x2ec40f"}]), current)[1] == []


def test_undeclared_lists_owned_masquerade_rules_of_unlisted_marks():
    current = reader(fixture("masquerade_nat_nft.txt"), fixture("owned_filter_nft.txt"))
    wanted = spec(rules=RULES[1:], masquerade_cluster=True, report_undeclared=True)
    plans, dummy = snat.plan(wanted, current)
    undeclared = snat.undeclared(wanted, plans, current)
    assert [line for line in undeclared if line.startswith("-A %s " % CHAIN)] == [
        line for line in fixture("masquerade_nat_nft.txt").splitlines() if "--mark 0xffffffff" in line]
    assert [Rule(line).destination for line in undeclared if line.startswith("-A %s " % REJECT_CHAIN)] == ["192.0.2.50/32"]


# --- gathered ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_gathered_is_what_we_own_in_the_input_format(backend):
    read = reader(fixture("masquerade_nat_%s.txt" % backend), fixture("owned_filter_%s.txt" % backend))
    found = snat.gathered(spec(state="gathered"), read)
    assert found == {
        "rules": [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"},
                  {"mark": "0xffffffff", "egress_ip": "192.0.2.52", "name": None}],
        "rules_text": "0x2ec40e 192.0.2.50 egress-test3\n0xffffffff 192.0.2.52\n",
        "cluster_cidrs": [C1, C2],
        "masquerade_cluster": True,
        "reject_inbound": True,
        "reject_ips": ["192.0.2.50"],
    }


def test_gathered_rules_feed_back_unchanged():
    """What gathered returns, given back (rules or rules_text, cluster_cidrs, masquerade_cluster,
    reject_inbound) with state=present or overridden, changes nothing."""
    wanted = spec(rules=RULES + [{"mark": 7, "egress_ip": "192.0.2.7"}], cluster_cidrs=[C2, C1],
                  masquerade_cluster=True, reject_inbound=True)
    empty = reader("*nat\n:%s - [0:0]\nCOMMIT\n*filter\n:%s - [0:0]\nCOMMIT\n" % (CHAIN, REJECT_CHAIN))
    plans, dummy = snat.plan(wanted, empty)
    converged = reader("*nat\n:%s - [0:0]\n%sCOMMIT\n*filter\n:%s - [0:0]\n%sCOMMIT\n" % (
        CHAIN, "".join(line + "\n" for line in plans["nat"].after),
        REJECT_CHAIN, "".join(line + "\n" for line in plans["filter"].after)))
    found = snat.gathered(spec(state="gathered"), converged)
    assert found["rules"] == [{"mark": "0x7", "egress_ip": "192.0.2.7", "name": None},
                              {"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"},
                              {"mark": "0x6f7936", "egress_ip": "192.0.2.11", "name": "egress-test"}]
    assert found["cluster_cidrs"] == [C2, C1] and found["masquerade_cluster"] and found["reject_inbound"]
    assert found["reject_ips"] == ["192.0.2.7", "192.0.2.50", "192.0.2.11"]
    given = dict(cluster_cidrs=found["cluster_cidrs"], masquerade_cluster=found["masquerade_cluster"],
                 reject_inbound=found["reject_inbound"])
    for state in ("present", "overridden"):
        for form in ({"rules": found["rules"]}, {"rules_text": found["rules_text"]}):
            assert snat.plan(spec(state=state, **dict(given, **form)), converged)[1] == [], (state, form)


def test_gathered_name_with_blanks_has_no_rules_text():
    found = snat.gathered(spec(state="gathered"), reader(fixture("owned_nat_nft.txt"), fixture("owned_filter_nft.txt")))
    assert {"mark": "0xffffffff", "egress_ip": "192.0.2.52", "name": "it's \"q\" \\ x"} in found["rules"]
    assert found["rules_text"] is None
    assert found["cluster_cidrs"] == [C1, C2] and found["masquerade_cluster"] is False
    # the foreign rule whose comment only starts with the tag is not ours
    assert not [rule for rule in found["rules"] if rule["egress_ip"] == "192.0.2.53"]


def test_gathered_of_missing_chains_is_empty():
    found = snat.gathered(spec(state="gathered"), reader(fixture("empty_nat_nft.txt")))
    assert found == {"rules": [], "rules_text": "", "cluster_cidrs": [], "masquerade_cluster": False,
                     "reject_inbound": False, "reject_ips": []}


def test_gathered_refuses_rules():
    with pytest.raises(ValueError, match="rules: not used with state=gathered"):
        spec(state="gathered", rules=RULES)
    with pytest.raises(ValueError, match="rules_text: not used with state=gathered"):
        spec(state="gathered", rules_text="0x1 192.0.2.1\n")


# --- rendered ---------------------------------------------------------------------------

def test_rendered_is_the_restore_input_for_empty_chains():
    wanted = spec(state="rendered", rules=RULES, masquerade_cluster=True, reject_inbound=True)
    assert snat.rendered(wanted) == [
        "*nat",
        '-I OPENSHIFT-MASQUERADE 1 -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment '
        '"sdn.egress egress-test3" -j MASQUERADE',
        '-I OPENSHIFT-MASQUERADE 2 -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment '
        '"sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50',
        '-I OPENSHIFT-MASQUERADE 3 -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment '
        '"sdn.egress egress-test" -j MASQUERADE',
        '-I OPENSHIFT-MASQUERADE 4 -s 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment '
        '"sdn.egress egress-test" -j SNAT --to-source 192.0.2.11',
        "COMMIT",
        "*filter",
        '-I OPENSHIFT-FIREWALL-ALLOW 1 -d 192.0.2.50/32 -m conntrack --ctstate NEW -m comment --comment '
        '"sdn.egress egress-test3" -j REJECT --reject-with icmp-port-unreachable',
        '-I OPENSHIFT-FIREWALL-ALLOW 2 -d 192.0.2.11/32 -m conntrack --ctstate NEW -m comment --comment '
        '"sdn.egress egress-test" -j REJECT --reject-with icmp-port-unreachable',
        "COMMIT",
    ]
    # exactly what present would apply to empty chains, with or without create_chain
    for create in (False, True):
        present = spec(rules=RULES, masquerade_cluster=True, reject_inbound=True, create_chain=create)
        assert snat.plan(present, snat.empty_chains(present))[1] == snat.rendered(wanted)
    assert snat.rendered(spec(state="rendered")) == []


@pytest.mark.parametrize("overrides, message", [
    ({"rules": [{"mark": 1}]}, "rules[0].egress_ip: required with state=rendered"),
    ({"rules": [{"mark": 1, "egress_ip": "2001:db8::1"}]}, "rules[0].egress_ip: 2001:db8::1 is not an IPv4 address"),
    ({"cluster_cidrs": ["fd00::/48"]}, "cluster_cidrs[0]: fd00::/48 is not an IPv4 network (address/prefix)"),
    ({"rules": [{"mark": 1, "egress_ip": "192.0.2.1"}, {"mark": "0x1", "egress_ip": "192.0.2.2"}]},
     "rules[1].mark: '0x1' is the same mark as rules[0]"),
])
def test_rendered_validates_like_present(overrides, message):
    with pytest.raises(ValueError) as err:
        spec(state="rendered", **overrides)
    assert str(err.value).startswith(message)


# --- find_conflicts: one case per class of match --------------------------------------------

M = 0x2ec40e
MARKS = [(M, "0x2ec40e", "egress-test3")]
OWNED = ('-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment '
         '"sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50')


def found(rule, where="above", cidrs=(C1,), masquerade_cluster=False):
    chain = [RETURN, rule, OWNED, ANCHOR] if where == "above" else [RETURN, OWNED, ANCHOR, rule]
    return [(c.rule, c.mark, c.name, c.reason) for c in
            snat.find_conflicts(chain, "sdn.egress", MARKS, list(cidrs), "OPENSHIFT-MASQUERADE-2", masquerade_cluster)]


@pytest.mark.parametrize("rule, reason", [
    ("-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12", "same mark"),
    ("-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e/0xffffffff -j ACCEPT", "same mark"),
    ("-A OPENSHIFT-MASQUERADE -j MASQUERADE", "no mark match, no source match, -j MASQUERADE"),
    ("-A OPENSHIFT-MASQUERADE -s 10.0.0.0/8 -j RETURN", "no mark match, source 10.0.0.0/8 overlaps cluster CIDR 10.128.0.0/14"),
    ("-A OPENSHIFT-MASQUERADE -s 10.130.0.0/23 -j DROP", "source 10.130.0.0/23 overlaps"),
    ("-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec400/0xffff00 -j SNAT --to-source 192.0.2.9", "mark/mask 0x2ec400/0xffff00 covers it"),
    ("-A OPENSHIFT-MASQUERADE -m mark ! --mark 0x6f7936 -j REJECT --reject-with icmp-port-unreachable",
     "negated mark match ! --mark 0x6f7936 does not exclude it"),
    ("-A OPENSHIFT-MASQUERADE ! -s 192.0.2.0/24 -j RETURN", "! -s 192.0.2.0/24 does not exclude cluster CIDR 10.128.0.0/14"),
    ("-A OPENSHIFT-MASQUERADE -j KUBE-ELSEWHERE", "(a chain, not followed"),
    ("-A OPENSHIFT-MASQUERADE -g KUBE-ELSEWHERE", "-g KUBE-ELSEWHERE"),
    ("-A OPENSHIFT-MASQUERADE -j MARK --set-xmark 0x0/0xffffffff", "-j MARK"),
    ("-A OPENSHIFT-MASQUERADE -d 203.0.113.0/24 -p tcp -m tcp --dport 443 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.9",
     "other matches not judged: -d 203.0.113.0/24, -p tcp, --dport 443"),
])
def test_a_rule_above_ours_that_can_catch_the_mark_is_a_conflict(rule, reason):
    result = found(rule)
    assert len(result) == 1 and result[0][:3] == (rule, "0x2ec40e", "egress-test3"), result
    assert reason in result[0][3], result[0][3]


@pytest.mark.parametrize("rule", [
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.12",  # other mark
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN",              # mask that does not cover it
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec400/0xffffff -j ACCEPT",     # masked, different
    "-A OPENSHIFT-MASQUERADE -m mark ! --mark 0x2ec40e -j RETURN",            # negation excludes it
    "-A OPENSHIFT-MASQUERADE -s 192.0.2.0/24 -j MASQUERADE",                  # source outside the cluster
    "-A OPENSHIFT-MASQUERADE ! -s 10.0.0.0/8 -j MASQUERADE",                  # negation covers the cluster
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e -j LOG --log-prefix egress",  # no effect
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e",                        # no target: a counter
    '-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e -m comment --comment "sdn.egress other" -j ACCEPT',  # owned
])
def test_a_rule_that_cannot_catch_the_mark_or_is_ours_is_no_conflict(rule):
    assert found(rule) == []


def test_a_rule_below_the_anchor_is_no_conflict():
    assert found("-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12", where="below") == []


def test_without_anchor_the_whole_chain_is_above_ours():
    rule = "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e -j ACCEPT"
    assert len(snat.find_conflicts([OWNED, rule], "sdn.egress", MARKS, [C1], "OPENSHIFT-MASQUERADE-2")) == 1


def test_a_source_overlapping_only_the_second_cluster_cidr_counts():
    assert found("-A OPENSHIFT-MASQUERADE -s 10.132.0.0/16 -j ACCEPT") == []
    assert len(found("-A OPENSHIFT-MASQUERADE -s 10.132.0.0/16 -j ACCEPT", cidrs=(C1, C2))) == 1


def test_cluster_internal_rules_count_only_without_masquerade_cluster():
    assert len(found(FOREIGN_MASQ.replace("0x6f7936", "0x2ec40e"))) == 1
    assert found(FOREIGN_MASQ.replace("0x6f7936", "0x2ec40e"), masquerade_cluster=True) == []


def test_one_rule_can_shadow_several_marks():
    marks = MARKS + [(0x6f7936, "0x6f7936", None)]
    result = snat.find_conflicts(["-A OPENSHIFT-MASQUERADE -j ACCEPT", ANCHOR], "sdn.egress", marks, [C1], "OPENSHIFT-MASQUERADE-2")
    assert [(c.mark, c.name) for c in result] == [("0x2ec40e", "egress-test3"), ("0x6f7936", None)]
    assert "mark 0x6f7936:" in result[1].message()


def test_conflict_message_escapes_control_characters():
    rule = '-A OPENSHIFT-MASQUERADE -m comment --comment "a\x1bb" -j ACCEPT'
    message = snat.Conflict(rule, "0x1", "ns\nx", "no mark match").message()
    assert "\n" not in message and "\x1b" not in message and "ns\\nx" in message


def test_plan_marks_conflicts_and_remove_drops_them():
    rule = "-A OPENSHIFT-MASQUERADE -s 10.0.0.0/8 -j ACCEPT"
    current = chain_of(RETURN, rule, ANCHOR)
    plans, dummy = snat.plan(spec(rules=RULES, conflicts="warn"), current)
    assert [c.rule for c in plans["nat"].conflicts] == [rule, rule] and rule in plans["nat"].after
    plans, dummy = snat.plan(spec(rules=RULES, conflicts="remove"), current)
    assert rule not in plans["nat"].after and plans["nat"].deleted == [rule]
    plans, dummy = snat.plan(spec(rules=RULES, state="absent"), current)
    assert plans["nat"].conflicts == []


@pytest.mark.parametrize("overrides, mode", [
    ({}, "fail"), ({"conflicts": "warn"}, "warn"), ({"remove_conflicts": True}, "remove"),
    ({"remove_conflicts": True, "conflicts": "fail"}, "remove"), ({"conflicts": "remove"}, "remove"),
])
def test_conflict_mode(overrides, mode):
    assert snat.conflict_mode(params(**overrides)) == mode


def test_conflict_mode_refuses_warn_with_remove_conflicts():
    with pytest.raises(ValueError, match="remove_conflicts"):
        snat.conflict_mode(params(remove_conflicts=True, conflicts="warn"))
