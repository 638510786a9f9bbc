# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/iptables.py against recorded iptables-save outputs.

Fixtures (tests/unit/fixtures/iptables/*_{nft,legacy}.txt) were recorded with iptables 1.8.9
on Debian 12 in a network namespace (see README there).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import random

import pytest

from ansible_collections.sdn.egress.plugins.module_utils.iptables import (
    ChainPlan,
    Rule,
    address_text,
    cidr_text,
    is_owned,
    mark_number,
    owner_comment,
    parse_save,
    parse_snat_text,
    quote,
    render_masquerade,
    render_reject,
    render_snat,
    restore_payload,
    rule_key,
    snat_line,
    split_line,
)
from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, show

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "iptables")
BACKENDS = ["nft", "legacy"]
CHAIN = "OPENSHIFT-MASQUERADE"
ANCHOR = "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment \"masquerade pod-to-external traffic\" -j OPENSHIFT-MASQUERADE-2"
RETURN = "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def chain_lines(name, table="nat", chain=CHAIN):
    return parse_save(fixture(name))[table].rules[chain]


def snat(mark, ip, comment="sdn.egress", cidr="10.128.0.0/14"):
    return render_snat(CHAIN, cidr, mark, ip, comment)


def foreign_snat(mark, ip):
    return "-A %s -s 10.128.0.0/14 -m mark --mark %s -j SNAT --to-source %s" % (CHAIN, mark, ip)


def apply_ops(chain, lines, ops):
    """What iptables-restore does with -D N / -I N lines, one after the other."""
    lines = list(lines)
    for op in ops:
        args = op.split(" ", 3)
        assert args[1] == chain
        number = int(args[2])
        if args[0] == "-D":
            assert 1 <= number <= len(lines), op
            del lines[number - 1]
        else:
            assert args[0] == "-I" and 1 <= number <= len(lines) + 1, op
            lines.insert(number - 1, "-A %s %s" % (chain, args[3]))
    return lines


def plan(current, block, drop=lambda rule: False, anchor="OPENSHIFT-MASQUERADE-2"):
    result = ChainPlan(CHAIN, current, block, drop, anchor)
    assert apply_ops(CHAIN, current, result.ops) == result.after
    return result


# --- normalisation ---------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("0x2EC40E", "0x2ec40e"), ("0x002ec40e", "0x2ec40e"), (3064846, "0x2ec40e"), ("3064846", "0x2ec40e"),
    (0, "0x0"), ("0x0", "0x0"), (0xFFFFFFFF, "0xffffffff"), ("0XFFFFFFFF", "0xffffffff"), (" 0x1 ", "0x1"),
])
def test_mark_number_and_the_text_iptables_save_prints(value, expected):
    assert hex(mark_number(value, "mark")) == expected


@pytest.mark.parametrize("value, reason", [
    (-1, "is out of range 0..4294967295"), (0x100000000, "is out of range 0..4294967295"),
    ("0x100000000", "is out of range 0..4294967295"), ("zz", "is not an integer"), ("0x", "is not an integer"),
    ("", "is not an integer"), ("-1", "is not an integer"), ("0x2ec40e/0xffff", "is not an integer"),
    (True, "is not an integer"), (1.5, "is not an integer"), (None, "is not an integer"),
])
def test_mark_number_rejects_naming_field_and_value(value, reason):
    with pytest.raises(AddrError) as err:
        mark_number(value, "rules[3].mark")
    assert str(err.value) == "rules[3].mark: %s %s" % (show(value), reason)


def test_addresses_and_networks():
    assert address_text(" 192.0.2.50", "egress_ip") == "192.0.2.50"
    assert cidr_text("10.128.0.0/14", "cidr") == "10.128.0.0/14"
    assert cidr_text("192.0.2.7", "cidr") == "192.0.2.7/32"
    for bad in ("192.0.2.300", "192.0.2.0/24", "2001:db8::1", "x", "192.0.2.01"):
        with pytest.raises(AddrError) as err:
            address_text(bad, "rules[0].egress_ip")
        assert str(err.value) == "rules[0].egress_ip: %s is not an IPv4 address" % bad
    for bad in ("10.128.0.0/33", "2001:db8::/32", "nope", "2001:db8::1"):
        with pytest.raises(AddrError) as err:
            cidr_text(bad, "cluster_cidrs[1]")
        assert str(err.value) == "cluster_cidrs[1]: %s is not an IPv4 network (address/prefix)" % bad
    with pytest.raises(AddrError) as err:
        cidr_text("10.128.0.1/14", "cluster_cidrs[0]")
    assert str(err.value) == "cluster_cidrs[0]: 10.128.0.1/14 has host bits set (the network is 10.128.0.0/14)"


def test_owner_comment_and_ownership():
    assert owner_comment("sdn.egress") == "sdn.egress"
    assert owner_comment("sdn.egress", "egress-test3") == "sdn.egress egress-test3"
    with pytest.raises(ValueError, match="longer than 255 bytes"):
        owner_comment("sdn.egress", "n" * 245)
    assert owner_comment("sdn.egress", "n" * 244)
    assert is_owned("sdn.egress", "sdn.egress")
    assert is_owned("sdn.egress egress-test3", "sdn.egress")
    assert not is_owned("sdn.egressive", "sdn.egress")
    assert not is_owned("masquerade pod-to-external traffic", "sdn.egress")
    assert not is_owned(None, "sdn.egress")


# --- quoting and splitting -------------------------------------------------------------

def test_quote_like_iptables_save():
    assert quote("plain_tag-1") == "plain_tag-1"
    assert quote("sdn.egress") == '"sdn.egress"'
    assert quote("a b") == '"a b"'
    assert quote("") == '""'
    assert quote("it's \"q\" \\ x") == '"it\\\'s \\"q\\" \\\\ x"'


def test_split_line_like_iptables_restore():
    assert split_line('-A C -m comment --comment "it\\\'s \\"q\\" \\\\ x" -j ACCEPT') == [
        "-A", "C", "-m", "comment", "--comment", "it's \"q\" \\ x", "-j", "ACCEPT"]
    assert split_line('-A C  --comment ""  -j X') == ["-A", "C", "--comment", "", "-j", "X"]
    assert rule_key('-A C --comment plain -j X') == rule_key('-A C --comment "plain" -j X')
    with pytest.raises(ValueError, match="unterminated"):
        split_line('-A C --comment "open')


# --- parsing recorded outputs ----------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_parse_seed_listing(backend):
    nat = parse_save(fixture("seed_nat_%s.txt" % backend))["nat"]
    assert nat.chains == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", CHAIN, "OPENSHIFT-MASQUERADE-2"]
    rules = [Rule(line) for line in nat.rules[CHAIN]]
    assert [(r.mark, r.to_source, r.target) for r in rules] == [
        ("0x2ec40e", "192.0.2.12", "SNAT"),
        ("0x6f7936", "192.0.2.11", "SNAT"),   # the seed notes' duplicate: the first one wins
        ("0x6f7936", "192.0.2.12", "SNAT"),
        ("0x1df6552", "192.0.2.12", "SNAT"),
        (None, None, "OPENSHIFT-MASQUERADE-2"),
    ]
    assert rules[-1].comments == ["masquerade pod-to-external traffic"]
    assert all(r.source == "10.128.0.0/14" and not r.owned("sdn.egress") for r in rules)


@pytest.mark.parametrize("backend", BACKENDS)
def test_parse_owned_listing(backend):
    rules = [Rule(line) for line in chain_lines("owned_nat_%s.txt" % backend)]
    assert rules[0].line == RETURN and rules[0].mark is None      # masked mark is not "a mark"
    owned = [(r.mark, r.source, r.comments[0]) for r in rules if r.owned("sdn.egress")]
    assert owned == [
        ("0x2ec40e", "10.128.0.0/14", "sdn.egress egress-test3"),
        ("0x2ec40e", "10.132.0.0/14", "sdn.egress egress-test3"),
        ("0x0", "10.128.0.0/14", "sdn.egress"),
        ("0xffffffff", "10.128.0.0/14", "sdn.egress it's \"q\" \\ x"),
    ]
    flt = parse_save(fixture("owned_filter_%s.txt" % backend))["filter"]
    reject = [Rule(line) for line in flt.rules["OPENSHIFT-FIREWALL-ALLOW"]]
    assert [(r.destination, r.target, r.owned("sdn.egress")) for r in reject] == [
        (None, "ACCEPT", False), ("192.0.2.12/32", "REJECT", False), ("192.0.2.50/32", "REJECT", True)]


@pytest.mark.parametrize("name", ["seed_nat", "owned_nat", "owned_filter", "empty_nat"])
def test_backends_print_the_same(name):
    nft, legacy = (parse_save(fixture("%s_%s.txt" % (name, b))) for b in BACKENDS)
    assert list(nft) == list(legacy)
    for table in nft:
        assert nft[table].chains == legacy[table].chains
        assert nft[table].rules == legacy[table].rules


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_table(backend):
    nat = parse_save(fixture("empty_nat_%s.txt" % backend))["nat"]
    assert not nat.has_chain(CHAIN)
    assert nat.rules == {"PREROUTING": [], "INPUT": [], "OUTPUT": [], "POSTROUTING": []}


def test_parse_errors():
    with pytest.raises(ValueError, match="outside a table"):
        parse_save("-A X -j ACCEPT\n")
    with pytest.raises(ValueError, match="not understood"):
        parse_save("*nat\n-I X 1 -j ACCEPT\nCOMMIT\n")


# --- rendering is byte-identical to iptables-save (both backends) -----------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_render_matches_recorded(backend):
    nat = chain_lines("owned_nat_%s.txt" % backend)
    assert snat("0x2ec40e", "192.0.2.50", "sdn.egress egress-test3") in nat
    assert snat("0x2ec40e", "192.0.2.50", "sdn.egress egress-test3", "10.132.0.0/14") in nat
    assert snat(hex(mark_number(0, "mark")), "192.0.2.51") in nat
    assert snat(hex(mark_number("0xFFFFFFFF", "mark")), "192.0.2.52", "sdn.egress it's \"q\" \\ x") in nat
    flt = chain_lines("owned_filter_%s.txt" % backend, "filter", "OPENSHIFT-FIREWALL-ALLOW")
    assert render_reject("OPENSHIFT-FIREWALL-ALLOW", "192.0.2.50", "sdn.egress egress-test3") in flt


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_masquerade_matches_recorded(backend):
    nat = chain_lines("masquerade_nat_%s.txt" % backend)
    owned = [line for line in nat if Rule(line).owned("sdn.egress")]
    assert owned == [
        render_masquerade(CHAIN, "10.128.0.0/14", "0x2ec40e", "sdn.egress egress-test3"),
        snat("0x2ec40e", "192.0.2.50", "sdn.egress egress-test3"),
        render_masquerade(CHAIN, "10.132.0.0/14", hex(mark_number("0xFFFFFFFF", "mark")), "sdn.egress"),
        snat("0xffffffff", "192.0.2.52", "sdn.egress", "10.132.0.0/14"),
    ]
    rule = Rule(owned[0])
    assert (rule.source, rule.destination, rule.mark, rule.target, rule.to_source) == (
        "10.128.0.0/14", "10.128.0.0/14", "0x2ec40e", "MASQUERADE", None)


def test_snat_line_round_trip():
    rules = [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"},
             {"mark": "0x7", "egress_ip": "198.51.100.7", "name": None}]
    assert [snat_line(rule) for rule in rules] == ["0x2ec40e 192.0.2.50 egress-test3", "0x7 198.51.100.7"]
    assert [rule for dummy, dummy2, rule in parse_snat_text("\n".join(snat_line(r) for r in rules))] == rules


# --- placement -------------------------------------------------------------------------

def test_seed_scenario_remove_conflicts():
    """0x6f7936 SNATs to two IPs in the seed notes; we want it to 192.0.2.11 only, owned."""
    current = chain_lines("seed_nat_nft.txt")
    ours = snat("0x6f7936", "192.0.2.11", "sdn.egress egress-test")
    marks = {"0x6f7936"}
    result = plan(current, [ours], lambda r: r.target == "SNAT" and not r.owned("sdn.egress") and r.mark in marks)
    assert result.ops == [
        "-D %s 3" % CHAIN,
        "-D %s 2" % CHAIN,
        "-I %s 3 %s" % (CHAIN, ours[len("-A %s " % CHAIN):]),
    ]
    assert result.after == [current[0], current[3], ours, ANCHOR]
    assert result.deleted == [current[1], current[2]]


def test_seed_scenario_without_remove_conflicts_keeps_foreign():
    current = chain_lines("seed_nat_legacy.txt")
    ours = snat("0x6f7936", "192.0.2.11", "sdn.egress egress-test")
    result = plan(current, [ours])
    assert result.ops == ["-I %s 5 %s" % (CHAIN, ours[len("-A %s " % CHAIN):])]
    assert result.after == current[:4] + [ours, ANCHOR]


def test_in_place_is_unchanged_and_return_stays_first():
    block = [snat("0x1", "192.0.2.1"), snat("0x2", "192.0.2.2")]
    current = [RETURN] + block + [ANCHOR]
    result = plan(current, block)
    assert result.ops == []
    assert result.after == current


def test_below_anchor_is_moved():
    block = [snat("0x1", "192.0.2.1"), snat("0x2", "192.0.2.2")]
    current = [RETURN, block[0], ANCHOR, block[1]]
    result = plan(current, block)
    assert result.ops == ["-D %s 4" % CHAIN, "-I %s 3 %s" % (CHAIN, block[1].split(" ", 2)[2])]
    assert result.after == [RETURN] + block + [ANCHOR]


def test_out_of_order_moves_the_fewest_rules():
    block = [snat(hex(m), "192.0.2.%d" % m) for m in range(1, 6)]
    current = [RETURN, block[0], block[3], block[1], block[2], block[4], ANCHOR]
    result = plan(current, block)
    assert len(result.ops) == 2          # only block[3] moves
    assert result.ops[0] == "-D %s 3" % CHAIN
    assert result.ops[1].startswith("-I %s 5 " % CHAIN)


def test_block_above_a_foreign_rule_is_not_above_the_anchor():
    foreign = foreign_snat("0x9", "192.0.2.9")
    block = [snat("0x1", "192.0.2.1")]
    current = [block[0], foreign, ANCHOR]
    result = plan(current, block)
    assert result.after == [foreign] + block + [ANCHOR]
    assert result.ops == ["-D %s 1" % CHAIN, "-I %s 2 %s" % (CHAIN, block[0].split(" ", 2)[2])]


def test_duplicates_of_our_rule_are_removed():
    block = [snat("0x1", "192.0.2.1")]
    current = [block[0], block[0], ANCHOR, block[0]]
    result = plan(current, block)
    assert result.ops == ["-D %s 4" % CHAIN, "-D %s 1" % CHAIN]
    assert result.after == block + [ANCHOR]


def test_no_anchor_appends_and_missing_anchor_chain():
    foreign = foreign_snat("0x9", "192.0.2.9")
    block = [snat("0x1", "192.0.2.1")]
    result = plan([RETURN, foreign], block)
    assert result.after == [RETURN, foreign] + block
    assert result.ops == ["-I %s 3 %s" % (CHAIN, block[0].split(" ", 2)[2])]
    assert plan([], block).ops == ["-I %s 1 %s" % (CHAIN, block[0].split(" ", 2)[2])]
    # anchor_target None (the reject chain): block ends the chain
    assert plan([ANCHOR, foreign], block, anchor=None).after == [ANCHOR, foreign] + block


def test_anchor_is_the_first_jump():
    second = ANCHOR.replace("10.128.0.0/14", "10.132.0.0/14")
    block = [snat("0x1", "192.0.2.1")]
    assert plan([ANCHOR, second], block).after == block + [ANCHOR, second]


def test_unlisted_owned_rule_left_in_place():
    unlisted = snat("0x7", "192.0.2.7", "sdn.egress other")
    block = [snat("0x1", "192.0.2.1")]
    result = plan([RETURN, block[0], unlisted, ANCHOR], block)
    assert result.after == [RETURN, unlisted, block[0], ANCHOR]
    assert plan(result.after, block).ops == []


def test_duplicate_block_line_is_a_bug():
    with pytest.raises(ValueError, match="duplicate"):
        ChainPlan(CHAIN, [], [snat("0x1", "192.0.2.1")] * 2, lambda r: False)


def test_quoting_style_does_not_matter():
    block = [snat("0x1", "192.0.2.1", "sdn_egress")]
    assert block[0].count('"') == 0
    current = [block[0].replace("sdn_egress", '"sdn_egress"'), ANCHOR]
    result = plan(current, block)
    assert result.ops == [] and result.after[0] == current[0]


def test_300_rules_one_insert_each():
    block = [snat(hex(m), "198.51.100.%d" % (m % 250 + 1), "sdn.egress ns%d" % m) for m in range(1, 301)]
    current = [RETURN, ANCHOR]
    result = plan(current, block)
    assert [op.split(" ", 3)[:3] for op in result.ops] == [["-I", CHAIN, str(n)] for n in range(2, 302)]
    assert result.after == [RETURN] + block + [ANCHOR]


@pytest.mark.parametrize("seed", range(200))
def test_random_chains(seed):
    """Any mix of foreign, owned, dropped and misplaced rules: ops give exactly `after`,
    foreign kept rules are never deleted, and a second plan on the result is empty."""
    rnd = random.Random(seed)
    block = [snat(hex(m), "192.0.2.%d" % m) for m in sorted(rnd.sample(range(1, 40), rnd.randint(0, 8)))]
    pool = block + [snat("0x%x" % (100 + i), "192.0.2.200") for i in range(3)] + [
        foreign_snat("0x%x" % (200 + i), "203.0.113.%d" % i) for i in range(6)] + [ANCHOR, RETURN]
    current = [rnd.choice(pool) for dummy in range(rnd.randint(0, 20))]
    if rnd.random() < 0.3:
        current = [c for c in current if c != ANCHOR]

    def drop(rule):
        return rule.to_source == "192.0.2.200" or rule.to_source == "203.0.113.0"

    result = plan(current, block, drop)
    keys = [rule_key(line) for line in result.after]
    for line in current:
        rule = Rule(line)
        if line not in block and not drop(rule):
            assert rule_key(line) in keys
    deleted_numbers = [int(op.split()[2]) for op in result.ops if op.startswith("-D ")]
    assert deleted_numbers == sorted(deleted_numbers, reverse=True)
    for number in deleted_numbers:
        line = current[number - 1]
        assert line in block or drop(Rule(line))
    anchors = [i for i, line in enumerate(result.after) if line == ANCHOR]
    if block and anchors:
        first = anchors[0]
        assert result.after[first - len(block):first] == block
    elif block:
        assert result.after[-len(block):] == block
    assert plan(result.after, block, drop).ops == []


# --- payload ---------------------------------------------------------------------------

def test_restore_payload():
    nat = ChainPlan(CHAIN, [ANCHOR], [snat("0x1", "192.0.2.1")], lambda r: False, "OPENSHIFT-MASQUERADE-2")
    same = ChainPlan("OPENSHIFT-FIREWALL-ALLOW", [], [], lambda r: False)
    new = ChainPlan("X", [], [render_reject("X", "192.0.2.1", "sdn.egress")], lambda r: False)
    assert restore_payload([("nat", [], [nat]), ("filter", [], [same])]) == [
        "*nat", "-I %s 1 -s 10.128.0.0/14 -m mark --mark 0x1 -m comment --comment \"sdn.egress\" "
                "-j SNAT --to-source 192.0.2.1" % CHAIN, "COMMIT"]
    assert restore_payload([("filter", ["X"], [new])]) == [
        "*filter", ":X - [0:0]",
        "-I X 1 -d 192.0.2.1/32 -m conntrack --ctstate NEW -m comment --comment \"sdn.egress\" "
        "-j REJECT --reject-with icmp-port-unreachable", "COMMIT"]
    assert restore_payload([("nat", [], [same]), ("filter", [], [same])]) == []


def test_split_line_fast_path_agrees_with_the_character_reader():
    """The regular-expression path (no backslash, balanced quotes) gives what the reader gives."""
    import random
    from ansible_collections.sdn.egress.plugins.module_utils import iptables as ipt
    rng = random.Random(20261127)
    for alphabet in (' \t\n"\\ab-', ' "ab', ' \t"a\\'):
        for dummy in range(20000):
            line = "".join(rng.choice(alphabet) for dummy in range(rng.randint(0, 14)))
            try:
                fast = ipt.split_line(line)
            except ValueError:
                fast = "error"
            try:
                slow = ipt._split_line_chars(line)
            except ValueError:
                slow = "error"
            assert fast == slow, line


def owned(rule):
    return rule.owned("sdn.egress")


def test_owned_rules_left_in_place_do_not_force_a_rewrite():
    """state=present with some of our rules no longer wanted here (they are pruned later):
    the wanted rules around them stay where they are, nothing is deleted or inserted."""
    ours = [snat("0x%x" % (0x100 + i), "198.18.1.%d" % i, "sdn.egress ns%d" % i) for i in range(10)]
    current = [RETURN] + ours + [ANCHOR]
    block = [line for i, line in enumerate(ours) if i not in (2, 5, 7)]
    result = ChainPlan(CHAIN, current, block, lambda rule: False, "OPENSHIFT-MASQUERADE-2", inside=owned)
    assert result.ops == [] and result.after == current
    # without `inside` the block has to be made contiguous again: a rewrite
    rewrite = ChainPlan(CHAIN, current, block, lambda rule: False, "OPENSHIFT-MASQUERADE-2")
    assert rewrite.ops and apply_ops(CHAIN, current, rewrite.ops) == rewrite.after


def test_missing_rules_go_among_floating_rules_in_block_order():
    a, b, c, d = (snat("0x%x" % m, "192.0.2.%d" % m, "sdn.egress n%d" % m) for m in (1, 2, 3, 4))
    other = snat("0x9", "192.0.2.9", "sdn.egress old")
    current = [RETURN, other, b, ANCHOR]
    result = ChainPlan(CHAIN, current, [a, b, c, d], lambda rule: False, "OPENSHIFT-MASQUERADE-2", inside=owned)
    assert result.after == [RETURN, other, a, b, c, d, ANCHOR]
    assert apply_ops(CHAIN, current, result.ops) == result.after
    assert not any(op.startswith("-D") for op in result.ops)


def test_floating_plan_is_always_what_the_operations_produce():
    """Random chains: foreign rules, our wanted, unwanted and dropped rules, with and without anchor."""
    rng = random.Random(7)
    pool = [snat("0x%x" % m, "192.0.2.%d" % m, "sdn.egress n%d" % m) for m in range(1, 9)]
    foreign = [foreign_snat("0x%x" % m, "203.0.113.%d" % m) for m in range(1, 4)] + [RETURN]
    for dummy in range(3000):
        current = rng.sample(pool, rng.randint(0, len(pool))) + rng.sample(foreign, rng.randint(0, len(foreign)))
        rng.shuffle(current)
        if rng.random() < 0.7:
            current.insert(rng.randint(0, len(current)), ANCHOR)
        block = rng.sample(pool, rng.randint(0, len(pool)))
        dropped = set(rng.sample(pool, rng.randint(0, 2)))
        result = ChainPlan(CHAIN, current, block, lambda rule: rule.line in dropped,
                           "OPENSHIFT-MASQUERADE-2", inside=owned)
        assert apply_ops(CHAIN, current, result.ops) == result.after
        after = result.after
        # every block rule once, in block order; nothing foreign between two block rules
        positions = [after.index(line) for line in block]
        assert positions == sorted(positions) and all(after.count(line) == 1 for line in block)
        if positions:
            between = after[positions[0]:positions[-1] + 1]
            assert all(line in block or owned(Rule(line)) for line in between), (current, block, after)
            if ANCHOR in after:
                assert positions[-1] < after.index(ANCHOR)
        # kept rules all survive, dropped ones are gone
        for line in current:
            if line in dropped and line not in block:
                assert line not in after
            elif line not in block:
                assert line in after
