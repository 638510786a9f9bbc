#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: egress_snat
short_description: SNAT by packet mark for egress IPs, as openshift-sdn writes it
description:
  - Keeps rules C(-s <cluster CIDR> -m mark --mark <mark> -j SNAT --to-source <egress IP>) in a
    nat chain (by default C(OPENSHIFT-MASQUERADE)), one rule per cluster CIDR per entry of
    O(rules), placed immediately above the first rule of the chain that jumps to O(anchor_target),
    or at the end of the chain when no rule jumps there.
  - Our rules carry C(-m comment --comment "<owner> <name>") (just C(<owner>) without a name).
    A rule is owned when its comment is exactly O(owner) or starts with O(owner) and a space.
    Rules not owned are never changed, except the conflicting SNAT rules that
    O(remove_conflicts=true) deletes.
  - "Order of our rules: sorted by mark (numerically), then by cluster CIDR in the order of
    O(cluster_cidrs). A rule that exists but sits elsewhere (below the anchor, out of order,
    duplicated) is moved, which is a change. Other owned rules that O(state=present) leaves alone
    may stay among ours (no rule of another owner ever does), so adding or keeping rules never
    rewrites ours around them."
  - Optionally keeps C(-d <egress IP>/32 -m conntrack --ctstate NEW -j REJECT) rules in the filter
    chain O(reject_chain) so the outbound-only egress IPs refuse new inbound connections. Those are
    kept together at the end of that chain, in the same order.
  - The state is read with C(iptables-save -t nat) (and C(-t filter) when O(reject_inbound=true) or
    O(state) is V(overridden) or V(absent)) and compared in the canonical form C(iptables-save)
    prints. All changes of a run are applied at once by one C(iptables-restore --noflush --wait 30)
    call whose input deletes and inserts rules by number; the result is read back and checked.
author:
  - sdn.egress developers (@sdn-egress)
version_added: 0.1.0
requirements:
  - iptables 1.8 (C(iptables-save)/C(iptables-restore), nf_tables or legacy backend)
attributes:
  check_mode:
    support: full
    description: Nothing is changed; RV(changed), RV(commands) and RV(after) are what a real run would do.
  diff_mode:
    support: full
    description: Shows the managed chains before and after, in C(iptables-save) form.
extends_documentation_fragment:
  - sdn.egress.return_state
options:
  chain:
    description: nat chain that holds the SNAT rules.
    type: str
    default: OPENSHIFT-MASQUERADE
  anchor_target:
    description:
      - Our rules sit immediately above the first rule of O(chain) whose target (C(-j)) is this.
      - When no rule jumps there, our rules are appended at the end of O(chain).
    type: str
    default: OPENSHIFT-MASQUERADE-2
  create_chain:
    description:
      - Create O(chain) (and O(reject_chain)) when it does not exist and rules must go into it.
        No jump to the new chain is added.
      - When V(false), a missing chain that should receive rules is an error.
    type: bool
    default: false
  cluster_cidrs:
    description: Source networks of the pods; each entry of O(rules) gives one SNAT rule per network.
    type: list
    elements: str
    default: [10.128.0.0/14]
  rules:
    description:
      - Mark to egress IP mappings.
      - With O(state=present) and O(state=overridden) every mark may appear once and O(rules[].egress_ip) is required.
      - With O(state=absent) an entry matches the owned rules with its mark (and with its egress IP when given).
      - Errors name the entry as C(rules[<index from 0>].<field>).
      - Mutually exclusive with O(rules_text); for hundreds of rules prefer O(rules_text).
    type: list
    elements: dict
    default: []
    suboptions:
      mark:
        description:
          - Packet mark, an integer or a hex (C(0x2EC40E), C(0x002ec40e)) or decimal string, 0..0xffffffff.
          - Normalised to the form C(iptables-save) prints (C(0x2ec40e)).
        type: raw
        required: true
      egress_ip:
        description: IPv4 address to SNAT to.
        type: str
      name:
        description:
          - Appended to O(owner) in the rule comment (for example the NetNamespace name).
          - The whole comment is at most 255 bytes and has no control characters.
        type: str
  rules_text:
    description:
      - The same mappings as O(rules), as one string with one rule per line,
        C(MARK EGRESS_IP [NAME]) separated by blanks, for example C(0x2ec40e 192.0.2.50 egress-test3).
      - C(MARK) is written as O(rules[].mark) accepts it (C(0x2EC40E), C(3064846)), C(EGRESS_IP) is
        O(rules[].egress_ip), the optional C(NAME) (without blanks) is O(rules[].name). With
        O(state=absent) a line may hold only C(MARK).
      - Blank lines and lines whose first non-blank character is C(#) are skipped.
      - "Each line becomes the O(rules) entry with these fields and is then handled exactly like it,
        with the same checks. Errors name the line and the field, for example
        C(rules_text line 2: '0xzz 192.0.2.2': mark: '0xzz' is not a mark ...)."
      - An empty string (or only comments) is the same as an empty O(rules) list, so with
        O(state=overridden) it removes every owned rule.
      - Why it exists - ansible-core templates a list argument element by element (in 2.19 about
        90 microseconds per dict), which takes seconds for thousands of rules, while one string
        is templated at a constant cost whatever its length. Use it for large sets of rules; the
        role P(sdn.egress.egress_node#role) passes its rules this way.
      - Mutually exclusive with O(rules).
    type: str
  state:
    description:
      - V(present) adds or moves the listed rules; owned SNAT rules for a listed mark that differ
        (for example an old egress IP) are deleted, other owned rules are left alone.
      - V(overridden) makes the owned rules exactly the listed ones, in both tables; every other
        owned rule is deleted.
      - V(absent) deletes the owned SNAT rules that match O(rules) (or O(rules_text)), and the owned REJECT rules for
        their egress IPs that no remaining owned SNAT rule uses.
    type: str
    choices: [present, absent, overridden]
    default: present
  owner:
    description: Ownership tag at the start of the comment of our rules (no blanks).
    type: str
    default: sdn.egress
  remove_conflicts:
    description:
      - With O(state=present) or O(state=overridden), also delete SNAT rules in O(chain) that are not
        owned and match one of the listed marks exactly (no mask, not negated), such as a rule added by
        hand for the same mark to another IP. The first matching SNAT rule wins, so such a rule above
        ours would silently take the traffic.
    type: bool
    default: false
  reject_inbound:
    description:
      - Also keep C(-A <reject_chain> -d <egress IP>/32 -m conntrack --ctstate NEW -m comment
        --comment "<owner> <name>" -j REJECT --reject-with icmp-port-unreachable) in the filter table,
        one per distinct egress IP, named after the first rule (in rule order) that uses the IP.
      - When V(false), O(state=present) leaves owned REJECT rules alone and O(state=overridden) deletes them.
    type: bool
    default: false
  reject_chain:
    description: filter chain for the REJECT rules.
    type: str
    default: OPENSHIFT-FIREWALL-ALLOW
  report_undeclared:
    description:
      - With O(state=present), also return RV(undeclared), the owned rules that a V(overridden)
        run with the same O(rules) would delete (in both tables; the filter table is read for it
        when O(reject_inbound=false)). This run leaves them alone.
      - The role M(sdn.egress.egress_node) sets it when adding rules and skips its prune pass
        on a node where nothing is undeclared.
    type: bool
    default: false
  backend:
    description:
      - Which iptables to use. V(auto) runs C(iptables-save)/C(iptables-restore), whatever the
        host's alternatives point to; V(nft) and V(legacy) run C(iptables-nft-*) or C(iptables-legacy-*).
      - Use the backend the SDN itself uses; rules of the other backend are not seen.
    type: str
    choices: [auto, nft, legacy]
    default: auto
notes:
  - iptables-restore commits each table at its C(COMMIT) line (both backends), so a run that changes
    the nat and the filter table is atomic per table; if the filter part fails, the task fails and
    the nat part stays applied (the next run converges).
  - Rules are deleted and inserted by number, computed from the C(iptables-save) output read in the same
    run; a concurrent change of the chain between that read and the restore makes the read-back check fail
    the task instead of silently leaving a wrong chain.
seealso:
  - name: openshift-sdn egress IP rules
    description: AddEgressIPRules in openshift/sdn pkg/network/node/iptables.go.
    link: https://github.com/openshift/sdn/blob/master/pkg/network/node/iptables.go
"""

EXAMPLES = r"""
- name: SNAT the NetNamespace egress-test3 (VNID 0x2ec40e) to 192.0.2.50
  sdn.egress.egress_snat:
    rules:
      - mark: "0x2EC40E"
        egress_ip: 192.0.2.50
        name: egress-test3

- name: Exactly these egress IPs on this node, drop hand-made duplicates, refuse inbound
  sdn.egress.egress_snat:
    state: overridden
    cluster_cidrs: [10.128.0.0/14]
    remove_conflicts: true
    reject_inbound: true
    rules:
      - {mark: 0x6f7936, egress_ip: 192.0.2.11, name: egress-test}
      - {mark: 0xdf6553, egress_ip: 192.0.2.13, name: egress-test2}

- name: The same as one string, one "MARK EGRESS_IP [NAME]" per line (constant templating cost)
  sdn.egress.egress_snat:
    state: overridden
    rules_text: |
      # mark       egress IP    name
      0x6f7936     192.0.2.11   egress-test
      0xdf6553     192.0.2.13   egress-test2

- name: Remove the SNAT of one mark
  sdn.egress.egress_snat:
    state: absent
    rules:
      - mark: 0x2ec40e

- name: Use iptables-legacy explicitly, in a chain of our own
  sdn.egress.egress_snat:
    backend: legacy
    chain: EGRESS-SNAT
    create_chain: true
    rules:
      - {mark: 7, egress_ip: 198.51.100.7}
"""

RETURN = r"""
changed:
  description: Whether the rules were (or, in check mode, would be) changed.
  returned: always
  type: bool
commands:
  description: The lines given to C(iptables-restore --noflush) (empty when nothing changes).
  returned: always
  type: list
  elements: str
  sample:
    - "*nat"
    - "-D OPENSHIFT-MASQUERADE 3"
    - "-I OPENSHIFT-MASQUERADE 2 -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j SNAT --to-source 192.0.2.50"
    - "COMMIT"
undeclared:
  description:
    - Owned rules, as C(iptables-save) prints them, that are not among the listed ones and that
      a V(overridden) run would delete (nat chain first, then the reject chain). Empty when there
      is nothing to prune.
  returned: when O(state=present) and O(report_undeclared=true)
  type: list
  elements: str
  sample: ["-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress old\" -j SNAT --to-source 192.0.2.9"]
before:
  description:
    - Rules of the managed chains before the run, as C(iptables-save) prints them, by table
      (C(nat) for O(chain); C(filter) for O(reject_chain) when the filter table was read).
    - A chain that does not exist is an empty list.
  returned: unless O(return_state=false)
  type: dict
  sample:
    nat:
      - "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment \"masquerade pod-to-external traffic\" -j OPENSHIFT-MASQUERADE-2"
after:
  description: Same as RV(before) after the run (in check mode, the predicted content).
  returned: unless O(return_state=false)
  type: dict
  sample:
    nat:
      - "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j SNAT --to-source 192.0.2.50"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment \"masquerade pod-to-external traffic\" -j OPENSHIFT-MASQUERADE-2"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sdn.egress.plugins.module_utils.iptables import (
    ChainPlan,
    Rule,
    check_chain_name,
    check_comment_text,
    normalize_cidr,
    normalize_ipv4,
    normalize_mark,
    owner_comment,
    parse_save,
    parse_snat_text,
    render_reject,
    render_snat,
    restore_payload,
    rule_key,
)

BINARIES = {
    "auto": ("iptables-save", "iptables-restore"),
    "nft": ("iptables-nft-save", "iptables-nft-restore"),
    "legacy": ("iptables-legacy-save", "iptables-legacy-restore"),
}
RESTORE_WAIT = "30"  # seconds to wait for the xtables lock (legacy backend)


def _source_rules(params):
    """[(label, where, rule dict)]: the rules as given, from rules_text or rules.

    where(field) is the prefix of a message about a field of the rule:
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


def _validate(params):
    """Return (chain names, cidrs, entries) or raise ValueError("<field>: <problem>")."""

    def field(name, check, value, *args):
        # name: the field's label, or (where, field) to build it only for a message
        try:
            return check(value, *args)
        except ValueError as exc:
            raise ValueError("%s: %s" % (name if isinstance(name, str) else name[0](name[1]), exc))

    for name in ("chain", "anchor_target", "reject_chain"):
        field(name, check_chain_name, params[name])
    field("owner", check_comment_text, params["owner"], False)
    if not params["cluster_cidrs"]:
        raise ValueError("cluster_cidrs: at least one network is needed")
    cidrs = []
    for i, cidr in enumerate(params["cluster_cidrs"]):
        cidr = field("cluster_cidrs[%d]" % i, normalize_cidr, cidr)
        if cidr in cidrs:
            raise ValueError("cluster_cidrs[%d]: %r is listed twice" % (i, cidr))
        cidrs.append(cidr)

    entries, seen = [], {}
    for label, where, rule in _source_rules(params):
        mark = field((where, "mark"), normalize_mark, rule["mark"])
        egress_ip = rule.get("egress_ip")
        if egress_ip is not None:
            egress_ip = field((where, "egress_ip"), normalize_ipv4, egress_ip)
        elif params["state"] != "absent":
            raise ValueError("%s: required with state=%s" % (where("egress_ip"), params["state"]))
        name = rule.get("name") or None
        if name is not None:
            field((where, "name"), check_comment_text, name)
        comment = field((where, "name"), owner_comment, params["owner"], name)
        if params["state"] != "absent" and mark in seen:
            raise ValueError("%s: %r is the same mark as %s; one mark can SNAT to one IP only"
                             % (where("mark"), rule["mark"], seen[mark]))
        seen.setdefault(mark, label)
        entries.append({"mark": mark, "egress_ip": egress_ip, "comment": comment})
    return cidrs, entries


class EgressSnat:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        save, restore = BINARIES[self.params["backend"]]
        self.save = module.get_bin_path(save, required=True)
        self.restore = module.get_bin_path(restore, required=True)

    def read(self, table):
        argv = [self.save, "-t", table]
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.module.fail_json(msg="%s failed: %s" % (" ".join(argv), err.strip()), rc=rc, cmd=argv)
        try:
            tables = parse_save(out)
        except ValueError as exc:
            self.module.fail_json(msg="cannot parse %s output: %s" % (" ".join(argv), exc), cmd=argv)
        return tables.get(table)

    def chain(self, table_name, chain, block):
        """Current lines of chain; fail (or plan its creation) when it is missing but needed."""
        table = self.read(table_name)
        if table is not None and table.has_chain(chain):
            return table.rules[chain], []
        if block and not self.params["create_chain"]:
            self.module.fail_json(msg="chain %s does not exist in the %s table; create it first or set create_chain=true"
                                  % (chain, table_name))
        return [], [chain] if block else []

    def plan(self, cidrs, entries):
        p = self.params
        state, owner = p["state"], p["owner"]
        ordered = sorted(entries, key=lambda e: int(e["mark"], 16))

        def ours(rule):
            return rule.owned(owner)
        marks = set(e["mark"] for e in entries)

        nat_block = [] if state == "absent" else [
            render_snat(p["chain"], cidr, e["mark"], e["egress_ip"], e["comment"]) for e in ordered for cidr in cidrs]
        if state == "absent":
            wanted = {}
            for e in entries:
                wanted.setdefault(e["mark"], set()).add(e["egress_ip"])

            def nat_drop(rule):
                ips = wanted.get(rule.mark)
                return rule.owned(owner) and ips is not None and (None in ips or rule.to_source in ips)
        else:
            def nat_drop(rule):
                if rule.owned(owner):
                    return state == "overridden" or rule.mark in marks
                return p["remove_conflicts"] and rule.target == "SNAT" and rule.mark in marks

        nat_lines, nat_create = self.chain("nat", p["chain"], nat_block)
        # our rules this run leaves alone (state=present) may stay among the wanted ones
        nat = ChainPlan(p["chain"], nat_lines, nat_block, nat_drop, p["anchor_target"], inside=ours)
        sections = [("nat", nat_create, [nat])]
        plans = {"nat": nat}

        if p["reject_inbound"] or state != "present":
            reject_block = []
            if p["reject_inbound"] and state != "absent":
                ips = set()
                for e in ordered:
                    if e["egress_ip"] not in ips:
                        ips.add(e["egress_ip"])
                        reject_block.append(render_reject(p["reject_chain"], e["egress_ip"], e["comment"]))
            if state == "absent":
                still = set(Rule(line).to_source for line in nat.after if Rule(line).owned(owner))
                gone = set(e["egress_ip"] for e in entries if e["egress_ip"]) | set(
                    Rule(line).to_source for line in nat.deleted if Rule(line).owned(owner))
                released = set(ip + "/32" for ip in gone - still)

                def filter_drop(rule):
                    return rule.owned(owner) and rule.destination in released
            else:
                def filter_drop(rule):
                    return state == "overridden" and rule.owned(owner)

            lines, create = self.chain("filter", p["reject_chain"], reject_block)
            plans["filter"] = ChainPlan(p["reject_chain"], lines, reject_block, filter_drop, inside=ours)
            sections.append(("filter", create, [plans["filter"]]))
        return plans, restore_payload(sections)

    def undeclared(self, plans):
        """Owned rules a state=overridden run with the same rules would delete (see report_undeclared)."""
        owner = self.params["owner"]
        out = []
        for table, chain in (("nat", self.params["chain"]), ("filter", self.params["reject_chain"])):
            plan = plans.get(table)
            if plan is None:  # reject_inbound=false: present did not read the filter chain
                lines, dummy = self.chain(table, chain, [])
                out.extend(line for line in lines if Rule(line).owned(owner))
                continue
            block = set(rule_key(line) for line in plan.block)
            out.extend(line for line in plan.after if rule_key(line) not in block and Rule(line).owned(owner))
        return out

    def apply(self, payload, plans):
        argv = [self.restore, "--noflush", "--wait", RESTORE_WAIT]
        rc, out, err = self.module.run_command(argv, data="\n".join(payload))
        if rc != 0:
            self.module.fail_json(msg="%s failed: %s" % (" ".join(argv), err.strip()), rc=rc, cmd=argv,
                                  commands=payload)
        after = {}
        for table, plan in plans.items():
            current = self.read(table)
            after[table] = list(current.rules.get(plan.chain, [])) if current is not None else []
            if [rule_key(line) for line in after[table]] != [rule_key(line) for line in plan.after]:
                self.module.fail_json(msg="chain %s (%s) differs from the plan after iptables-restore; "
                                          "was it changed concurrently?" % (plan.chain, table),
                                      commands=payload, expected=plan.after, actual=after[table])
        return after


def _text(chains):
    return "".join("*%s\n%s" % (table, "".join(line + "\n" for line in lines)) for table, lines in chains.items())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            chain=dict(type="str", default="OPENSHIFT-MASQUERADE"),
            anchor_target=dict(type="str", default="OPENSHIFT-MASQUERADE-2"),
            create_chain=dict(type="bool", default=False),
            cluster_cidrs=dict(type="list", elements="str", default=["10.128.0.0/14"]),
            rules=dict(type="list", elements="dict", default=[], options=dict(
                mark=dict(type="raw", required=True),
                egress_ip=dict(type="str"),
                name=dict(type="str"),
            )),
            rules_text=dict(type="str"),
            state=dict(type="str", choices=["present", "absent", "overridden"], default="present"),
            owner=dict(type="str", default="sdn.egress"),
            remove_conflicts=dict(type="bool", default=False),
            reject_inbound=dict(type="bool", default=False),
            reject_chain=dict(type="str", default="OPENSHIFT-FIREWALL-ALLOW"),
            backend=dict(type="str", choices=["auto", "nft", "legacy"], default="auto"),
            return_state=dict(type="bool", default=True),
            report_undeclared=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("rules", "rules_text")],
        supports_check_mode=True,
    )
    try:
        cidrs, entries = _validate(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    snat = EgressSnat(module)
    plans, payload = snat.plan(cidrs, entries)
    before = dict((table, plan.before) for table, plan in plans.items())
    if payload and not module.check_mode:
        after = snat.apply(payload, plans)
    else:
        after = dict((table, plan.after) for table, plan in plans.items())

    result = dict(changed=bool(payload), commands=payload, before=before, after=after)
    if module.params["report_undeclared"] and module.params["state"] == "present":
        result["undeclared"] = snat.undeclared(plans)
    if module._diff:
        where = ", ".join("%s %s" % (table, plan.chain) for table, plan in plans.items())
        result["diff"] = dict(before=_text(before), after=_text(after),
                              before_header="iptables (%s)" % where, after_header="iptables (%s)" % where)
    if not module.params["return_state"]:
        result.pop("before", None)
        result.pop("after", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
