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
    Rules not owned are never changed, except the conflicting rules that O(conflicts=remove) deletes.
    A foreign rule that would catch a listed mark's traffic before ours fails the task before any
    change unless O(conflicts) says otherwise.
  - "Order of our rules: sorted by mark (numerically), then by cluster CIDR in the order of
    O(cluster_cidrs). A rule that exists but sits elsewhere (below the anchor, out of order,
    duplicated) is moved, which is a change. Other owned rules that O(state=present) leaves alone
    may stay among ours (no rule of another owner ever does), so adding or keeping rules never
    rewrites ours around them."
  - With O(masquerade_cluster=true) (openshift-sdn 4.8 and later), every SNAT rule gets a rule
    C(-s <cluster CIDR> -d <cluster CIDR> -m mark --mark <mark> -j MASQUERADE) with the same comment,
    one per cluster CIDR, right above that mark's SNAT rules, so traffic of the mark that stays
    inside the cluster network is masqueraded rather than sent with the egress IP. Those rules are
    owned, placed, checked and pruned like the SNAT rules.
  - Optionally keeps C(-d <egress IP>/32 -m conntrack --ctstate NEW -j REJECT) rules in the filter
    chain O(reject_chain) so the outbound-only egress IPs refuse new inbound connections. Those are
    kept together at the end of that chain, in the same order.
  - The state is read with C(iptables-save -t nat) (and C(-t filter) when O(reject_inbound=true) or
    O(state) is V(overridden) or V(absent)) and compared in the canonical form C(iptables-save)
    prints. All changes of a run are applied at once by one C(iptables-restore --noflush --wait 30)
    call whose input deletes and inserts rules by number; the result is read back and checked.
  - "Resource-module states: V(gathered) returns the owned rules in this module's input format
    without changing anything; V(rendered) returns the C(iptables-restore --noflush) input that
    puts the given rules into empty chains, without reading or needing a host."
  - Marks, addresses and networks are parsed with the Python library netaddr. IPv4 only
    (iptables); an IPv6 value is refused naming its field.
author:
  - sdn.egress developers (@sdn-egress)
version_added: 0.1.0
requirements:
  - iptables 1.8 (C(iptables-save)/C(iptables-restore), nf_tables or legacy backend), except for O(state=rendered)
  - netaddr (Python library, C(python3-netaddr)) on the managed node
attributes:
  check_mode:
    support: full
    description:
      - Nothing is changed; RV(changed), RV(commands) and RV(after) are what a real run would do.
      - V(gathered) and V(rendered) change nothing in any mode.
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
      - Not used with O(state=gathered).
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
          - Required with O(match=mark); not used with O(match=source).
        type: raw
      source:
        description:
          - With O(match=source), the source address whose traffic is SNATed (an OVN-Kubernetes
            EgressService endpoint); the rule matches C(-s <source>/32).
        type: str
      egress_ip:
        description: IPv4 address to SNAT to (required unless O(state=absent)).
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
  match:
    description:
      - V(mark) (openshift-sdn egress IPs) keys the rules by packet mark.
      - V(source) (OVN-Kubernetes EgressService) keys them by O(rules[].source); the rules are
        C(-s SRC/32 -m comment --comment "<owner> NAME" -j SNAT --to-source IP), sorted by source,
        after the O(return_mark) rule, and sit above every rule of O(chain) we do not own (first).
        O(anchor_target), O(cluster_cidrs), O(masquerade_cluster), O(reject_inbound) and O(rules_text)
        are not used.
    type: str
    choices: [mark, source]
    default: mark
  return_mark:
    description:
      - With O(match=source), the first rule of O(chain) is
        C(-m mark --mark <return_mark> -m comment --comment "<owner> DoNotSNAT" -j RETURN)
        (OVN-Kubernetes uses C(0x3f0) - traffic its priority-102 policy marked is not SNATed).
      - With O(state=absent) it is removed together with the last owned SNAT rule.
    type: raw
  jump_from:
    description:
      - With O(match=source), a nat chain (for example C(POSTROUTING)) whose first rule must jump to
        O(chain); the jump carries the owner comment and is kept above every rule we do not own.
    type: str
  state:
    description:
      - V(present) adds or moves the listed rules; owned rules for a listed mark that differ
        (for example an old egress IP) are deleted, other owned rules are left alone.
      - V(overridden) makes the owned rules exactly the listed ones, in both tables; every other
        owned rule is deleted.
      - V(absent) deletes the owned SNAT rules that match O(rules) (or O(rules_text)), the owned
        MASQUERADE rules of a mark left without owned SNAT rules, and the owned REJECT rules for
        their egress IPs that no remaining owned SNAT rule uses.
      - V(gathered) reads O(chain) and O(reject_chain) and returns what we own as RV(gathered),
        in this module's input format. Nothing is changed; O(rules) and O(rules_text) are refused.
      - V(rendered) returns as RV(rendered) the C(iptables-restore --noflush) input that would put
        the given rules (as V(present) or V(overridden) would want them, with O(masquerade_cluster)
        and O(reject_inbound)) into O(chain) and O(reject_chain) when both exist and are empty.
        Nothing is read or run on the host; iptables need not be installed. It assumes the chains
        exist (a C(:CHAIN) line would flush an existing chain), so O(create_chain) does not apply.
    type: str
    choices: [present, absent, overridden, gathered, rendered]
    default: present
  owner:
    description: Ownership tag at the start of the comment of our rules (no blanks).
    type: str
    default: sdn.egress
  conflicts:
    description:
      - What to do about a I(conflict) - a rule in O(chain) that is not owned, sits above our rules
        (above the first rule jumping to O(anchor_target), anywhere in the chain when none does) and
        can catch the packets of a listed mark before our SNAT rule does, so that the namespace's
        traffic would leave with another address or none. Checked with O(state=present) and
        O(state=overridden).
      - "A rule can catch a mark's packets unless its matches prove otherwise: its C(-m mark --mark)
        match (with or without mask, negated or not) excludes the mark (C(mark & mask != value & mask),
        or equal for C(! --mark)), or its C(-s) network does not overlap any of O(cluster_cidrs) (for
        C(! -s), covers all of them). So the same mark, no mark match, a mask that covers the mark
        and a source that overlaps a cluster CIDR all count. Other matches (C(-d), C(-p), interfaces,
        conntrack, sets, other mark-like modules such as C(connmark)) only narrow what the rule
        catches; they are not taken as proof and the rule counts (the reason names them). One
        exception - with O(masquerade_cluster=true) a rule whose C(-d) network lies inside a cluster
        CIDR does not count (that traffic is masqueraded, never sent with the egress IP)."
      - "Only rules with an effect count: every target except C(LOG), C(NFLOG), C(ULOG), C(TRACE) and
        C(AUDIT) (and rules without a target). That is C(SNAT), C(MASQUERADE), C(ACCEPT), C(RETURN),
        C(DROP), C(REJECT), C(DNAT), C(REDIRECT), C(NETMAP), C(MARK)/C(CONNMARK) (they change the mark
        our rule matches), unknown targets, and any C(-j)/C(-g) to a user chain, which is not followed."
      - V(fail) (default) - the task fails before anything is changed (also in check mode), naming each
        rule (its C(iptables-save) text, escaped when it holds control characters), the mark and the
        name (namespace) of the entry it shadows, and the reason.
      - V(warn) - the conflicts are returned in RV(conflicts) and each one is a warning; they are
        left in place and the run goes on.
      - V(remove) - they are deleted in the same C(iptables-restore) as our changes, together with
        foreign SNAT rules of a listed mark below ours (duplicates, what O(remove_conflicts) always
        deleted). RV(commands) and the diff show the deletions.
    type: str
    choices: [fail, warn, remove]
    default: fail
  remove_conflicts:
    description:
      - V(true) is the older spelling of O(conflicts=remove) and is kept for compatibility; it
        overrides O(conflicts=fail) (the default) and is an error together with O(conflicts=warn).
      - V(false) leaves the choice to O(conflicts) (default V(fail)).
    type: bool
    default: false
  masquerade_cluster:
    description:
      - Also keep, for every rule and cluster CIDR, C(-A <chain> -s <cluster CIDR> -d <cluster CIDR> -m mark
        --mark <mark> -m comment --comment "<owner> <name>" -j MASQUERADE) right above that mark's SNAT
        rules (the extra rule of openshift-sdn 4.8 and later; the egress plan sets it for C(egress_layout=sdn48)).
      - When V(false), the owned MASQUERADE rules of the listed marks are deleted (and with
        O(state=overridden) all owned ones).
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
    conflicts: remove
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

- name: openshift-sdn 4.8 and later - masquerade the mark's traffic that stays in the cluster network
  sdn.egress.egress_snat:
    masquerade_cluster: true
    rules:
      - {mark: 0x2ec40e, egress_ip: 192.0.2.50, name: egress-test3}

- name: What do we own on this node? (read only, in the input format of this module)
  sdn.egress.egress_snat:
    state: gathered
  register: owned_snat

- name: The iptables-restore input for a change review (no host, no iptables needed)
  sdn.egress.egress_snat:
    state: rendered
    masquerade_cluster: true
    reject_inbound: true
    rules_text: |
      0x2ec40e 192.0.2.50 egress-test3
  delegate_to: localhost
  register: review

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
  description: Whether the rules were (or, in check mode, would be) changed. Always false for V(gathered) and V(rendered).
  returned: always
  type: bool
commands:
  description: The lines given to C(iptables-restore --noflush) (empty when nothing changes).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
  sample:
    - "*nat"
    - "-D OPENSHIFT-MASQUERADE 3"
    - "-I OPENSHIFT-MASQUERADE 2 -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j SNAT --to-source 192.0.2.50"
    - "COMMIT"
conflicts:
  description:
    - The conflicts found (see O(conflicts)), in chain order, one entry per rule and mark it
      shadows. Empty when there are none, and for O(state=absent). With O(conflicts=remove),
      the rules deleted for it.
  returned: when O(state) is V(present), V(overridden) or V(absent); with O(conflicts=fail) in the failure
  type: list
  elements: dict
  contains:
    rule:
      description: The rule as C(iptables-save) prints it.
      type: str
    mark:
      description: The listed mark whose traffic it can catch.
      type: str
    name:
      description: The name of that mark's entry (the namespace for the role), null without one.
      type: str
    reason:
      description: Which of its matches and which target make it a conflict.
      type: str
  sample:
    - rule: "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12"
      mark: "0x2ec40e"
      name: egress-test3
      reason: "same mark, source 10.128.0.0/14 overlaps cluster CIDR 10.128.0.0/14, -j SNAT --to-source 192.0.2.12"
undeclared:
  description:
    - Owned rules, as C(iptables-save) prints them, that are not among the listed ones and that
      a V(overridden) run would delete (nat chain first, then the reject chain). Empty when there
      is nothing to prune.
  returned: when O(state=present) and O(report_undeclared=true)
  type: list
  elements: str
  sample: ["-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress old\" -j SNAT --to-source 192.0.2.9"]
gathered:
  description:
    - With O(state=gathered), what we own, in this module's input format. Owned rules whose target
      is neither SNAT, MASQUERADE nor REJECT are not listed.
  returned: when O(state=gathered)
  type: dict
  contains:
    rules:
      description:
        - The owned SNAT rules as O(rules) entries (C(mark) as C(iptables-save) prints it), one per
          mark, egress IP and name, in chain order. C(name) is null for a comment that is just O(owner).
        - Two entries with one mark (an owned duplicate) are both listed; O(state=present) would refuse them.
      type: list
      elements: dict
      sample: [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"}]
    rules_text:
      description: The same rules as O(rules_text) lines; null when a name holds blanks (which that form cannot carry).
      type: str
      sample: "0x2ec40e 192.0.2.50 egress-test3\n"
    cluster_cidrs:
      description: The sources of the owned SNAT rules, in chain order (O(cluster_cidrs)).
      type: list
      elements: str
      sample: [10.128.0.0/14]
    masquerade_cluster:
      description: Whether owned MASQUERADE rules exist in O(chain) (O(masquerade_cluster)).
      type: bool
    reject_inbound:
      description: Whether owned REJECT rules exist in O(reject_chain) (O(reject_inbound)).
      type: bool
    reject_ips:
      description: The egress IPs of the owned REJECT rules, in chain order.
      type: list
      elements: str
      sample: [192.0.2.50]
rendered:
  description:
    - With O(state=rendered), the lines of the C(iptables-restore --noflush) input that puts the
      given rules into empty O(chain) and O(reject_chain) (C(-I) by number, C(COMMIT) per table).
    - Feed them, one per line, to C(iptables-restore --noflush); on a chain that already holds
      rules, run the module with O(state=present) instead.
  returned: when O(state=rendered)
  type: list
  elements: str
  sample:
    - "*nat"
    - "-I OPENSHIFT-MASQUERADE 1 -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j MASQUERADE"
    - "-I OPENSHIFT-MASQUERADE 2 -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j SNAT --to-source 192.0.2.50"
    - "COMMIT"
before:
  description:
    - Rules of the managed chains before the run, as C(iptables-save) prints them, by table
      (C(nat) for O(chain); C(filter) for O(reject_chain) when the filter table was read).
    - A chain that does not exist is an empty list.
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: dict
  sample:
    nat:
      - "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment \"masquerade pod-to-external traffic\" -j OPENSHIFT-MASQUERADE-2"
after:
  description: Same as RV(before) after the run (in check mode, the predicted content).
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: dict
  sample:
    nat:
      - "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment \"sdn.egress egress-test3\" -j SNAT --to-source 192.0.2.50"
      - "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment \"masquerade pod-to-external traffic\" -j OPENSHIFT-MASQUERADE-2"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import snat
from ansible_collections.sdn.egress.plugins.module_utils.iptables import BINARIES, Iptables
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR
from ansible_collections.sdn.egress.plugins.module_utils.results import exit_converged, validated
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            chain=dict(type="str", default="OPENSHIFT-MASQUERADE"),
            anchor_target=dict(type="str", default="OPENSHIFT-MASQUERADE-2"),
            create_chain=dict(type="bool", default=False),
            cluster_cidrs=dict(type="list", elements="str", default=["10.128.0.0/14"]),
            rules=dict(type="list", elements="dict", default=[], options=dict(
                mark=dict(type="raw"),
                source=dict(type="str"),
                egress_ip=dict(type="str"),
                name=dict(type="str"),
            )),
            rules_text=dict(type="str"),
            state=dict(type="str", choices=list(snat.STATES), default="present"),
            owner=dict(type="str", default="sdn.egress"),
            conflicts=dict(type="str", choices=list(snat.CONFLICT_MODES), default="fail"),
            remove_conflicts=dict(type="bool", default=False),
            reject_inbound=dict(type="bool", default=False),
            reject_chain=dict(type="str", default="OPENSHIFT-FIREWALL-ALLOW"),
            masquerade_cluster=dict(type="bool", default=False),
            backend=dict(type="str", choices=list(BINARIES), default="auto"),
            return_state=dict(type="bool", default=True),
            report_undeclared=dict(type="bool", default=False),
            match=dict(type="str", choices=["mark", "source"], default="mark"),
            return_mark=dict(type="raw"),
            jump_from=dict(type="str"),
        ),
        mutually_exclusive=[("rules", "rules_text")],
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    spec = validated(module, snat.validate)
    if spec.state == "rendered":
        module.exit_json(changed=False, rendered=snat.rendered(spec))

    cli = Iptables(module, module.params["backend"])
    try:
        if spec.state == "gathered":
            module.exit_json(changed=False, gathered=snat.gathered(spec, cli.read))
        result = snat.converge(spec, cli, module.check_mode)
        for conflict in result["conflicts"] if spec.conflicts == "warn" else ():
            module.warn("left in place (conflicts=warn): %s" % snat.Conflict(**conflict).message())
    except (snat.SnatError, CommandError) as exc:
        module.fail_json(**exc.fail_args())
    except ValueError as exc:  # iptables-save output that cannot be parsed
        module.fail_json(msg=str(exc))

    where = ", ".join("%s %s" % (table, chain) for table, chain in
                      (("nat", spec.chain), ("filter", spec.reject_chain)) if table in result["before"])
    exit_converged(module, result, "iptables (%s)" % where, snat.diff_text)


if __name__ == "__main__":
    main()
