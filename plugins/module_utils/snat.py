# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SNAT policy of egress_snat: which rules a node wants, which owned rules go, where they sit.

    spec = validate(params)                 # egress_snat's parameters -> Spec (ValueError naming the field)
    plans, payload = plan(spec, read)       # read(table) -> iptables.Table or None
    result = converge(spec, cli, check)     # plan, apply with one iptables-restore, read back
    gathered(spec, read) / rendered(spec)   # the resource-module states

Our rules, per entry of ``rules`` sorted by mark, then per cluster CIDR in the given order:
with ``masquerade_cluster`` first ``-s CIDR -d CIDR -m mark --mark M -j MASQUERADE`` for every
CIDR (traffic that stays in the cluster network is not sent out with the egress IP, as
openshift-sdn 4.8+ does), then ``-s CIDR -m mark --mark M -j SNAT --to-source IP`` for every CIDR.
The whole block sits right above the first rule jumping to ``anchor_target``; REJECT rules
(``reject_inbound``) end the filter chain. Everything we write carries the owner comment, and
only owned rules are deleted (plus, with conflicts=remove, the foreign rules find_conflicts names and
the foreign SNAT rules of a listed mark below ours).

A foreign rule above our block that can catch a listed mark's packets is a conflict
(find_conflicts, a pure function of the chain's lines); ``conflicts`` says what a run does about
it: fail (before any change, the default), warn (listed, left), remove (deleted in the same restore).

``match=source`` (OVN-Kubernetes EgressService): rules are keyed by a source address instead of
a mark. The block is, first, with ``return_mark`` ``-m mark --mark M -m comment --comment
"<owner> DoNotSNAT" -j RETURN``, then per entry sorted by source ``-s SRC/32 -m comment
--comment "<owner> NAME" -j SNAT --to-source IP``; it sits above every foreign rule of the chain
(first). With ``jump_from`` the chain is jumped to from the first rule of that nat chain.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, parse_network, show
from ansible_collections.sdn.egress.plugins.module_utils.iptables import (
    MARK_MAX,
    ChainPlan,
    Rule,
    Table,
    Terms,
    address_text,
    check_chain_name,
    check_comment_text,
    cidr_text,
    is_owned,
    mark_number,
    owner_comment,
    parse_snat_text,
    quote,
    render_masquerade,
    render_reject,
    render_snat,
    restore_payload,
    rule_key,
    snat_line,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError

NAT, FILTER = "nat", "filter"
STATES = ("present", "absent", "overridden", "gathered", "rendered")
WANTING = ("present", "overridden", "rendered")  # the states in which the listed rules are wanted


class SnatError(Exception):
    """A run that cannot go on; ``fail_args()`` are the keyword arguments of fail_json."""

    def __init__(self, msg, **details):
        super(SnatError, self).__init__(msg)
        self.details = details

    def fail_args(self):
        return dict(self.details, msg=str(self))


class Entry:
    """One validated rule: the mark's number and its text as iptables-save prints it, the egress
    IP (None only for absent), the comment."""

    __slots__ = ("number", "mark", "egress_ip", "comment", "source")

    def __init__(self, number, egress_ip, comment, source=None):
        self.number, self.mark = number, None if number is None else hex(number)
        self.egress_ip, self.comment = egress_ip, comment
        self.source = source      # "10.131.1.10/32" with match=source


class Spec:
    """egress_snat's parameters, validated: chain names, owner, ``cidrs`` (as iptables-save prints
    them), ``entries`` [Entry] in the order given, and the switches as they are."""

    def __init__(self, params, cidrs, entries):
        self.chain = params["chain"]
        self.anchor_target = params["anchor_target"]
        self.reject_chain = params["reject_chain"]
        self.owner = params["owner"]
        self.state = params["state"]
        self.create_chain = params["create_chain"]
        self.conflicts = conflict_mode(params)
        self.reject_inbound = params["reject_inbound"]
        self.masquerade_cluster = params["masquerade_cluster"]
        self.report_undeclared = params["report_undeclared"]
        self.match = params.get("match") or "mark"
        self.return_mark = params.get("return_mark")
        self.jump_from = params.get("jump_from")
        self.cidrs = cidrs
        self.entries = entries

    @property
    def wants_rules(self):
        """Whether the listed rules are wanted (WANTING) rather than removed or not given."""
        return self.state in WANTING

    def owns(self, rule):
        return rule.owned(self.owner)


# ---------------------------------------------------------------------------------------
# validation

class _Label:
    """A field's name for a message, built only when a message needs it (a rules_text label
    holds the repr of its line: formatting it for every field of thousands of valid rules
    would cost more than checking them)."""

    __slots__ = ("where", "name")

    def __init__(self, where, name):
        self.where, self.name = where, name

    def __str__(self):
        return self.where(self.name)


def _source_rules(params):
    """[(label, where, rule dict)]: the rules as given, from rules_text or rules.

    where(field) names a field of the rule in messages:
    "rules[2].mark" or "rules_text line 3: '0xzz 192.0.2.1': mark".
    """
    def entry(index):
        return lambda name: "rules[%d].%s" % (index, name)

    def line_of(number, line):
        return lambda name: "rules_text line %d: %r: %s" % (number, line, name)

    if params["rules_text"] is None:
        return [("rules[%d]" % i, entry(i), rule) for i, rule in enumerate(params["rules"])]
    try:
        lines = parse_snat_text(params["rules_text"])
    except ValueError as exc:
        raise ValueError("rules_text %s" % exc)
    return [("rules_text line %d" % number, line_of(number, line), rule) for number, line, rule in lines]


def _checked(name, check, value, *args):
    """check(value, *args), its ValueError prefixed with the field's name."""
    try:
        return check(value, *args)
    except ValueError as exc:
        raise ValueError("%s: %s" % (name, exc))


def conflict_mode(params):
    """fail, warn or remove: ``conflicts`` (default fail); ``remove_conflicts: true`` means remove
    (it overrides the default fail and contradicts warn)."""
    mode = params.get("conflicts")
    if mode is not None and mode not in CONFLICT_MODES:
        raise ValueError("conflicts: %s is not one of %s" % (show(mode), ", ".join(CONFLICT_MODES)))
    if params.get("remove_conflicts"):
        if mode == "warn":
            raise ValueError("remove_conflicts: true means conflicts=remove, which contradicts conflicts=warn")
        return "remove"
    return mode or "fail"


def validate(params):
    """Spec of egress_snat's parameters; ValueError("<field>: <value> ...") for the first bad one.

    Marks, addresses and networks are parsed by addr.py (through iptables.mark_number,
    address_text, cidr_text), whose messages name the field and the value."""
    state = params["state"]
    for name in ("chain", "anchor_target", "reject_chain"):
        _checked(name, check_chain_name, params[name])
    _checked("owner", check_comment_text, params["owner"], False)
    if state == "gathered" and (params["rules"] or params["rules_text"] is not None):
        raise ValueError("%s: not used with state=gathered (it reads what is there)"
                         % ("rules" if params["rules"] else "rules_text"))
    if not params["cluster_cidrs"]:
        raise ValueError("cluster_cidrs: at least one network is needed")
    cidrs = []
    for i, value in enumerate(params["cluster_cidrs"]):
        cidr = cidr_text(value, "cluster_cidrs[%d]" % i)
        if cidr in cidrs:
            raise ValueError("cluster_cidrs[%d]: %r is listed twice" % (i, cidr))
        cidrs.append(cidr)

    entries, seen = [], {}
    wanted = state in WANTING
    if (params.get("match") or "mark") == "source":
        return _validate_source(params, cidrs, wanted)
    for label, where, rule in _source_rules(params):
        number = mark_number(rule["mark"], _Label(where, "mark"))
        egress_ip = rule.get("egress_ip")
        if egress_ip is not None:
            egress_ip = address_text(egress_ip, _Label(where, "egress_ip"))
        elif wanted:
            raise ValueError("%s: required with state=%s" % (where("egress_ip"), state))
        name = rule.get("name") or None
        if name is not None:
            _checked(_Label(where, "name"), check_comment_text, name)
        comment = _checked(_Label(where, "name"), owner_comment, params["owner"], name)
        if wanted and number in seen:
            raise ValueError("%s: %r is the same mark as %s; one mark can SNAT to one IP only"
                             % (where("mark"), rule["mark"], seen[number]))
        seen.setdefault(number, label)
        entries.append(Entry(number, egress_ip, comment))
    return Spec(params, cidrs, entries)


def _validate_source(params, cidrs, wanted):
    """validate() for match=source: rules [{source, egress_ip, name}], return_mark, jump_from."""
    if params["rules_text"] is not None:
        raise ValueError("rules_text: not used with match=source (give rules)")
    if params.get("return_mark") is not None:
        params = dict(params, return_mark=hex(mark_number(params["return_mark"], "return_mark")))
    if params.get("jump_from") is not None:
        _checked("jump_from", check_chain_name, params["jump_from"])
    entries, seen = [], {}
    for i, rule in enumerate(params["rules"]):
        where = "rules[%d]" % i
        if rule.get("mark") is not None:
            raise ValueError("%s.mark: %r is not used with match=source" % (where, rule["mark"]))
        if rule.get("source") is None:
            raise ValueError("%s.source: required with match=source" % where)
        source = address_text(rule["source"], where + ".source") + "/32"
        egress_ip = rule.get("egress_ip")
        if egress_ip is not None:
            egress_ip = address_text(egress_ip, where + ".egress_ip")
        elif wanted:
            raise ValueError("%s.egress_ip: required with state=%s" % (where, params["state"]))
        name = rule.get("name") or None
        if name is not None:
            _checked(where + ".name", check_comment_text, name)
        comment = _checked(where + ".name", owner_comment, params["owner"], name)
        if wanted and source in seen:
            raise ValueError("%s.source: %r is the same source as %s; one source can SNAT to one IP only"
                             % (where, rule["source"], seen[source]))
        seen.setdefault(source, where)
        entries.append(Entry(None, egress_ip, comment, source))
    return Spec(params, cidrs, entries)


def _source_block(spec):
    block = []
    if spec.return_mark is not None and spec.entries:     # only in front of SNAT rules
        block.append("-A %s -m mark --mark %s -m comment --comment %s -j RETURN"
                     % (spec.chain, spec.return_mark, quote(owner_comment(spec.owner, "DoNotSNAT"))))
    for e in sorted(spec.entries, key=lambda e: e.source):
        block.append("-A %s -s %s -m comment --comment %s -j SNAT --to-source %s"
                     % (spec.chain, e.source, quote(e.comment), e.egress_ip))
    return block


def _source_drop(spec):
    """drop(rule) for match=source: overridden drops every other owned rule; present the owned
    SNAT rules of a listed source (another egress IP); absent the owned SNAT rules it names (and
    their egress IP when given), and the owned RETURN rule when no owned SNAT rule is left."""
    owner, state = spec.owner, spec.state
    sources = {}
    for e in spec.entries:
        sources.setdefault(e.source, set()).add(e.egress_ip)

    def named(rule):
        ips = sources.get(rule.source)
        return rule.owned(owner) and rule.target == "SNAT" and ips is not None and (
            None in ips or rule.to_source in ips)

    if state == "overridden":
        return lambda rule: rule.owned(owner)
    if state != "absent":
        return lambda rule: rule.owned(owner) and rule.target == "SNAT" and rule.source in sources
    return named


def _first_target(lines, owner):
    """The target of the first rule not owned by ``owner`` (our block goes above it)."""
    for line in lines:
        rule = Rule(line)
        if not rule.owned(owner):
            return rule.target
    return None


def _plan_source(spec, read):
    block = _source_block(spec) if spec.wants_rules else []
    lines, create = _chain(spec, read, NAT, spec.chain, block)
    drop = _source_drop(spec)
    if spec.state == "absent":
        left = [Rule(l) for l in lines if not drop(Rule(l))]
        if not any(r.owned(spec.owner) and r.target == "SNAT" for r in left):
            inner = drop

            def drop(rule):
                return inner(rule) or (rule.owned(spec.owner) and rule.target == "RETURN")
    nat = ChainPlan(spec.chain, lines, block, drop, _first_target(lines, spec.owner), inside=spec.owns)
    nat.conflicts = []  # our block goes first in the chain: no foreign rule sits above it
    plans = {NAT: nat}
    chain_plans = [nat]
    table = read(NAT)
    chain_there = bool(create) or (table is not None and table.has_chain(spec.chain))
    if spec.jump_from and spec.state != "absent" and chain_there:
        # (no chain and nothing to put in it: no jump either)
        builtin = spec.jump_from in ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
        if not builtin and (table is None or not table.has_chain(spec.jump_from)):
            raise SnatError("jump_from: chain %s does not exist in the nat table" % spec.jump_from)
        current = table.rules.get(spec.jump_from, []) if table is not None else []
        jump = ["-A %s -m comment --comment %s -j %s" % (spec.jump_from, quote(spec.owner), spec.chain)]
        jplan = ChainPlan(spec.jump_from, current, jump,
                          lambda rule: rule.owned(spec.owner) and rule.target == spec.chain,
                          _first_target(current, spec.owner), inside=spec.owns)
        plans["nat " + spec.jump_from] = jplan
        chain_plans.append(jplan)
    return plans, restore_payload([(NAT, create, chain_plans)])


# ---------------------------------------------------------------------------------------
# conflicts: foreign rules that can catch a declared mark's packets before our SNAT rule

CONFLICT_MODES = ("fail", "warn", "remove")

# Targets that neither end the packet's walk through the chain nor change it: a rule with one
# of them (or without a target: a counter) never shadows ours. Every other target counts:
# SNAT, MASQUERADE, ACCEPT, RETURN, DROP, REJECT, DNAT, REDIRECT, NETMAP, MARK/CONNMARK (they
# change the mark we match), any jump or goto to a user chain (not followed: it may end the
# walk), and any target this list does not know.
HARMLESS_TARGETS = frozenset(("LOG", "NFLOG", "ULOG", "TRACE", "AUDIT"))
BUILTIN_TARGETS = frozenset(("SNAT", "MASQUERADE", "ACCEPT", "RETURN", "DROP", "REJECT", "DNAT",
                             "REDIRECT", "NETMAP", "MARK", "CONNMARK", "NFQUEUE", "CT", "TPROXY"))

# matches whose meaning is judged; any other match (destination, protocol, interfaces,
# conntrack, sets, ...) only narrows what a rule catches and is not proof that it misses the
# mark's packets, so the rule still counts (conservative), and the reason names them
_IGNORED = ("--comment",)


class Conflict:
    """A foreign rule that can catch the packets of ``mark`` (``name``: the rule's name, the
    namespace; None without one) before our SNAT rule: ``rule`` (the iptables-save line),
    ``reason`` (why), ``index`` (its place in the chain, from 0), ``above`` (False only for the
    foreign SNAT rules of a mark below ours that mode remove also deletes)."""

    __slots__ = ("rule", "mark", "name", "reason", "index", "above")

    def __init__(self, rule, mark, name, reason, index=None, above=True):
        self.rule, self.mark, self.name, self.reason = rule, mark, name, reason
        self.index, self.above = index, above

    def as_dict(self):
        return {"rule": self.rule, "mark": self.mark, "name": self.name, "reason": self.reason}

    def message(self):
        who = "mark %s" % self.mark
        if self.name:
            who += " (%s)" % show(self.name)
        return "rule %s shadows %s: %s" % (show(self.rule), who, self.reason)


def _network(value):
    try:
        return parse_network(value, "-s", 4)
    except AddrError:
        return None


def _overlaps(a, b):
    return a.first <= b.last and b.first <= a.last


def _covers(a, b):
    return a.first <= b.first and b.last <= a.last


def _mark_verdict(matches, number):
    """(catches, reason) of a rule's mark matches for a mark number."""
    parts = []
    for m in matches:
        value, dummy, mask = m.value.partition("/")
        try:
            v = int(value, 0)
            k = int(mask, 0) if mask else MARK_MAX
        except ValueError:
            parts.append("mark match %s not understood" % m.text())
            continue
        equal = (number & k) == (v & k)
        if equal == m.negated:
            return False, None  # this match excludes the mark
        if m.negated:
            parts.append("negated mark match %s does not exclude it" % m.text())
        elif k == MARK_MAX:
            parts.append("same mark")
        else:
            parts.append("mark/mask %s covers it" % m.value)
    return True, ", ".join(parts) or "no mark match"


def _source_verdict(matches, cidrs):
    """(catches, reason) of a rule's -s match for packets from any of the cluster CIDRs."""
    if not matches:
        return True, "no source match"
    m = matches[0]
    net = _network(m.value)
    if net is None:
        return True, "source match %s not understood" % m.text()
    caught = []
    for cidr in cidrs:
        c = _network(cidr)
        if c is None:
            continue
        if m.negated and not _covers(net, c):
            caught.append("%s does not exclude cluster CIDR %s" % (m.text(), cidr))
        elif not m.negated and _overlaps(net, c):
            caught.append("source %s overlaps cluster CIDR %s" % (m.value, cidr))
    if not caught:
        return False, None
    return True, "; ".join(caught)


def _internal_only(matches, cidrs):
    """Whether a (not negated) -d match keeps the rule to traffic inside one cluster CIDR."""
    for m in matches:
        if m.option in ("-d", "--destination") and not m.negated:
            net = _network(m.value)
            return net is not None and any(c is not None and _covers(c, net) for c in map(_network, cidrs))
    return False


def rule_conflicts(line, marks, cidrs, masquerade_cluster=False):
    """[(mark text, reason)]: the marks (``marks``: [(number, mark text)]) whose packets from the
    cluster CIDRs the foreign rule ``line`` can catch, and why; [] when its target cannot shadow
    (HARMLESS_TARGETS or no target), its mark/source matches exclude every mark, or (with
    ``masquerade_cluster``, where cluster-internal traffic never gets the egress IP) its
    destination lies inside a cluster CIDR."""
    terms = Terms(line)
    if terms.target is None or terms.target in HARMLESS_TARGETS:
        return []
    if masquerade_cluster and _internal_only(terms.matches, cidrs):
        return []
    mark_matches = [m for m in terms.matches if m.module == "mark" and m.option == "--mark"]
    source = [m for m in terms.matches if m.option in ("-s", "--source")]
    other = [m.text() for m in terms.matches
             if m not in mark_matches and m not in source and m.option not in _IGNORED]
    catches, source_reason = _source_verdict(source, cidrs)
    if not catches:
        return []
    effect = " ".join(["-g" if terms.goto else "-j", terms.target] + terms.target_args)
    if terms.target not in BUILTIN_TARGETS:
        effect += " (a chain, not followed: counted as ending the walk)"
    tail = "; other matches not judged: %s" % ", ".join(other) if other else ""
    out = []
    for number, mark in marks:
        caught, mark_reason = _mark_verdict(mark_matches, number)
        if caught:
            out.append((mark, "%s, %s, %s%s" % (mark_reason, source_reason, effect, tail)))
    return out


def find_conflicts(lines, owner, marks, cidrs, anchor_target=None, masquerade_cluster=False):
    """[Conflict] of one chain: every rule of ``lines`` (the chain as iptables-save prints it)
    that is not owned by ``owner``, sits above where our SNAT block goes (above the first rule
    jumping to ``anchor_target``; the whole chain without one) and can catch the packets of one
    of ``marks`` ([(number, mark text, name or None)]) from the cluster CIDRs ``cidrs`` before
    our SNAT rule (rule_conflicts). A pure function: the module and a read-only preflight
    call it with what they read."""
    numbers = [(number, mark) for number, mark, dummy in marks]
    names = dict((mark, name) for dummy, mark, name in marks)
    found = []
    for index, line in enumerate(lines):
        rule = Rule(line)
        if rule.owned(owner):
            continue
        if anchor_target and rule.target == anchor_target:
            break
        for mark, reason in rule_conflicts(line, numbers, cidrs, masquerade_cluster):
            found.append(Conflict(line, mark, names.get(mark), reason, index))
    return found


def _spec_conflicts(spec, lines):
    """find_conflicts for the spec's entries, and with mode remove the foreign SNAT rules of a
    listed mark below ours (what remove_conflicts always deleted)."""
    marks = [(e.number, e.mark, _name(e.comment, spec.owner)) for e in sorted(spec.entries, key=lambda e: e.number)]
    found = find_conflicts(lines, spec.owner, marks, spec.cidrs, spec.anchor_target, spec.masquerade_cluster)
    if spec.conflicts == "remove":
        listed = set(c.rule for c in found)
        names = dict((mark, name) for dummy, mark, name in marks)
        for index, line in enumerate(lines):
            rule = Rule(line)
            if line not in listed and not rule.owned(spec.owner) and rule.target == "SNAT" and rule.mark in names:
                found.append(Conflict(line, rule.mark, names[rule.mark],
                                      "foreign SNAT rule for the same mark below ours (a duplicate)", index, False))
    return found


# ---------------------------------------------------------------------------------------
# planning

def nat_block(spec):
    """Our nat rules in their order: per entry sorted by mark, the MASQUERADE rules (one per
    cluster CIDR, with masquerade_cluster) right above its SNAT rules (one per cluster CIDR)."""
    block = []
    for e in sorted(spec.entries, key=lambda e: e.number):
        if spec.masquerade_cluster:
            block.extend(render_masquerade(spec.chain, cidr, e.mark, e.comment) for cidr in spec.cidrs)
        block.extend(render_snat(spec.chain, cidr, e.mark, e.egress_ip, e.comment) for cidr in spec.cidrs)
    return block


def reject_block(spec):
    """Our filter rules: one REJECT per distinct egress IP, named after its first entry by mark."""
    block, ips = [], set()
    for e in sorted(spec.entries, key=lambda e: e.number):
        if e.egress_ip not in ips:
            ips.add(e.egress_ip)
            block.append(render_reject(spec.reject_chain, e.egress_ip, e.comment))
    return block


def _chain(spec, read, table_name, chain, block):
    """(current lines of chain, [chain to create]); SnatError when it is missing but needed."""
    table = read(table_name)
    if table is not None and table.has_chain(chain):
        return table.rules[chain], []
    if block and not spec.create_chain:
        raise SnatError("chain %s does not exist in the %s table; create it first or set create_chain=true"
                        % (chain, table_name))
    return [], [chain] if block else []


def _nat_drop(spec, current, conflicts=()):
    """drop(rule) for the nat chain: which current rules (other than wanted ones) go; with
    conflicts=remove, the ``conflicts`` ([Conflict]) too."""
    owner = spec.owner
    marks = set(e.mark for e in spec.entries)
    if spec.state != "absent":
        removed = set(c.rule for c in conflicts) if spec.conflicts == "remove" else set()

        def drop(rule):
            if rule.owned(owner):
                return spec.state == "overridden" or rule.mark in marks
            return rule.line in removed
        return drop

    wanted = {}
    for e in spec.entries:
        wanted.setdefault(e.mark, set()).add(e.egress_ip)

    def named(rule):  # the owned rules an entry names: its mark, and its egress IP when given
        ips = wanted.get(rule.mark)
        return rule.owned(owner) and ips is not None and (None in ips or rule.to_source in ips)

    # a mark's MASQUERADE rules go with the last of its owned SNAT rules
    kept = set(rule.mark for rule in (Rule(line) for line in current)
               if rule.owned(owner) and rule.target == "SNAT" and not named(rule))

    def drop(rule):
        return named(rule) or (rule.owned(owner) and rule.target == "MASQUERADE"
                               and rule.mark in wanted and rule.mark not in kept)
    return drop


def plan(spec, read):
    """({table: ChainPlan}, restore payload lines) that turn the chains ``read`` returns into
    what ``spec`` wants. ``read(table)``: an iptables.Table, or None when there is no such table.

    The filter table is planned with reject_inbound, and for overridden and absent (which
    remove owned REJECT rules)."""
    state = spec.state
    if spec.match == "source":
        return _plan_source(spec, read)
    block = nat_block(spec) if spec.wants_rules else []
    lines, create = _chain(spec, read, NAT, spec.chain, block)
    conflicts = _spec_conflicts(spec, lines) if spec.wants_rules and state != "rendered" else []
    # our rules this run leaves alone (state=present) may stay among the wanted ones
    nat = ChainPlan(spec.chain, lines, block, _nat_drop(spec, lines, conflicts), spec.anchor_target, inside=spec.owns)
    nat.conflicts = conflicts
    sections = [(NAT, create, [nat])]
    plans = {NAT: nat}

    if spec.reject_inbound or state in ("absent", "overridden"):
        block = reject_block(spec) if spec.reject_inbound and spec.wants_rules else []
        if state == "absent":
            owned_after = [Rule(line) for line in nat.after]
            still = set(rule.to_source for rule in owned_after if spec.owns(rule))
            gone = set(e.egress_ip for e in spec.entries if e.egress_ip) | set(
                rule.to_source for rule in (Rule(line) for line in nat.deleted) if spec.owns(rule))
            released = set(ip + "/32" for ip in gone - still if ip is not None)

            def filter_drop(rule):
                return spec.owns(rule) and rule.destination in released
        else:
            def filter_drop(rule):
                return state == "overridden" and spec.owns(rule)

        lines, create = _chain(spec, read, FILTER, spec.reject_chain, block)
        plans[FILTER] = ChainPlan(spec.reject_chain, lines, block, filter_drop, inside=spec.owns)
        sections.append((FILTER, create, [plans[FILTER]]))
    return plans, restore_payload(sections)


def undeclared(spec, plans, read):
    """Owned rules a state=overridden run with the same rules would delete (report_undeclared)."""
    out = []
    for table, chain in ((NAT, spec.chain), (FILTER, spec.reject_chain)):
        chain_plan = plans.get(table)
        if chain_plan is None:  # reject_inbound=false: present did not read the filter chain
            lines, dummy = _chain(spec, read, table, chain, [])
            out.extend(line for line in lines if spec.owns(Rule(line)))
            continue
        block = set(rule_key(line) for line in chain_plan.block)
        out.extend(line for line in chain_plan.after if rule_key(line) not in block and spec.owns(Rule(line)))
    return out


def converge(spec, cli, check_mode):
    """Plan, apply (unless check_mode or nothing changes) and read back; the result keys
    changed, commands, before, after (dicts by table) and, with report_undeclared, undeclared.

    ``cli``: an iptables.Iptables. SnatError when the restore fails or the chains read back
    differ from the plan (a concurrent change); CommandError when iptables-save fails."""
    plans, payload = plan(spec, cli.read)
    conflicts = plans[NAT].conflicts
    if conflicts and spec.conflicts == "fail":
        raise SnatError(conflicts_message(spec, conflicts), conflicts=[c.as_dict() for c in conflicts])
    before = dict((table, chain_plan.before) for table, chain_plan in plans.items())
    after = dict((table, chain_plan.after) for table, chain_plan in plans.items())
    if payload and not check_mode:
        try:
            cli.restore(payload)
        except CommandError as exc:
            raise SnatError(str(exc), commands=payload, cmd=exc.argv, rc=exc.rc, stdout=exc.out, stderr=exc.err)
        for table, chain_plan in plans.items():
            current = cli.read(table.split()[0])   # "nat POSTROUTING": a second chain of nat
            after[table] = list(current.rules.get(chain_plan.chain, [])) if current is not None else []
            if [rule_key(line) for line in after[table]] != [rule_key(line) for line in chain_plan.after]:
                raise SnatError("chain %s (%s) differs from the plan after iptables-restore; was it changed "
                                "concurrently?" % (chain_plan.chain, table),
                                commands=payload, expected=chain_plan.after, actual=after[table])
    result = dict(changed=bool(payload), commands=payload, before=before, after=after,
                  conflicts=[c.as_dict() for c in conflicts])
    if spec.report_undeclared and spec.state == "present":
        result["undeclared"] = undeclared(spec, plans, cli.read)
    return result


def conflicts_message(spec, conflicts):
    """The failure of conflicts=fail: every conflicting rule, the mark and name it shadows, why."""
    return ("%d foreign rule(s) in nat chain %s can catch declared traffic before our SNAT rule "
            "(nothing was changed; set conflicts=remove to delete them or conflicts=warn to leave "
            "them): %s" % (len(conflicts), spec.chain, "; ".join(c.message() for c in conflicts)))


def diff_text(chains):
    """{table: lines} as iptables-save sections (for --diff)."""
    return "".join("*%s\n%s" % (table, "".join(line + "\n" for line in lines)) for table, lines in chains.items())


# ---------------------------------------------------------------------------------------
# resource-module states

def _name(comment, owner):
    """The name an owned comment carries ("<owner> <name>"), None for the bare owner tag."""
    if comment == owner:
        return None
    return comment[len(owner) + 1:] or None


def _owned_comment(rule, owner):
    return next(c for c in rule.comments if is_owned(c, owner))


def gathered(spec, read):
    """What we own in the chains, in egress_snat's own input format (state=gathered).

    {rules: [{mark, egress_ip, name}] (owned SNAT rules, one entry per mark, egress IP and name,
    in chain order), rules_text (the same as rules_text lines, None when a name holds blanks),
    cluster_cidrs (their sources, in chain order), masquerade_cluster (whether owned MASQUERADE
    rules exist), reject_inbound (whether owned REJECT rules exist), reject_ips (their egress
    IPs, in chain order)}. Missing chains or tables are empty."""
    owner = spec.owner
    nat, flt = read(NAT), read(FILTER)
    rules, seen, cidrs, masquerade = [], set(), [], False
    for line in (nat.rules.get(spec.chain, []) if nat is not None else []):
        rule = Rule(line)
        if not rule.owned(owner):
            continue
        if rule.target == "MASQUERADE":
            masquerade = True
        elif rule.target == "SNAT" and rule.mark is not None and rule.to_source is not None:
            entry = {"mark": rule.mark, "egress_ip": rule.to_source, "name": _name(_owned_comment(rule, owner), owner)}
            key = (entry["mark"], entry["egress_ip"], entry["name"])
            if key not in seen:
                seen.add(key)
                rules.append(entry)
            if rule.source is not None and rule.source not in cidrs:
                cidrs.append(rule.source)
    reject_ips = []
    for line in (flt.rules.get(spec.reject_chain, []) if flt is not None else []):
        rule = Rule(line)
        if rule.owned(owner) and rule.target == "REJECT" and rule.destination:
            ip = rule.destination[:-3] if rule.destination.endswith("/32") else rule.destination
            if ip not in reject_ips:
                reject_ips.append(ip)
    if any(rule["name"] and len(rule["name"].split()) != 1 for rule in rules):
        text = None  # a name with blanks has no rules_text form
    else:
        text = "".join(snat_line(rule) + "\n" for rule in rules)
    return {"rules": rules, "rules_text": text, "cluster_cidrs": cidrs, "masquerade_cluster": masquerade,
            "reject_inbound": bool(reject_ips), "reject_ips": reject_ips}


def empty_chains(spec):
    """read(table) for rendered: both chains exist and are empty."""
    tables = {}
    for name, chain in ((NAT, spec.chain), (FILTER, spec.reject_chain)):
        table = tables[name] = Table(name)
        table.chains.append(chain)
        table.rules[chain] = []
    return tables.get


def rendered(spec):
    """The ``iptables-restore --noflush`` lines that put the wanted rules into empty chains
    (state=rendered): no host, no iptables binary."""
    return plan(spec, empty_chains(spec))[1]
