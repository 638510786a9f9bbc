# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Digests of the objects a node phase owns, so that the controller can skip a phase's module
run when the node already has exactly what the plan wants (issue 20 item 3).

Two sides compute the same digest of the same objects:

- the node side (``egress_preflight``, preflight.py) over what it reads: the flows carrying
  our cookie (every table) and the groups recorded as ours in the bridge's external_ids
  (``node_flows``), our rules of the SNAT chain and of the REJECT chain with whether they sit
  where egress_snat puts them (``node_rules``), our addresses (label ``<ifname>:<suffix>``,
  ``node_addresses``);
- the plan side (plan.py, on the controller) over the compact plan's texts (``plan_flows``,
  ``plan_rules``, ``plan_addresses``), with the same formats: the layouts write flows and
  groups exactly as ``ovs-ofctl dump-flows`` / ``dump-groups`` print them back, and the rules
  are rendered with snat.py's own renderers, byte-identical to iptables-save.

``unchanged()`` compares them and says, per phase object kind, whether a module run would
have nothing to do.  A digest that differs (or that one side cannot compute: None) only means
that the module runs as it always did, so a difference of formats costs a module run, never a
skipped change.  Each digest covers everything the module compares: a drifted object (deleted,
changed, moved out of place, a duplicate) changes the node side's digest.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, parse_ip, parse_network
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import VERSION, ClaimError, LocalNetworks, choose_interface
from ansible_collections.sdn.egress.plugins.module_utils.iptables import Rule, rule_key
from ansible_collections.sdn.egress.plugins.module_utils.ovs import group_id_of, parse_flows_text

KINDS = ("flows", "rules", "addresses")


def _digest(kind, items):
    """sha256 (hex) of a kind and its lines, in the order given."""
    h = hashlib.sha256(kind.encode("utf-8"))
    for item in items:
        h.update(b"\n")
        h.update(item.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# flows and groups


def _flow_item(table, priority, match, actions):
    return "%d %d %s %s" % (table, priority, match, actions)


def flows_digest(flows, group_lines):
    """Digest of flows [(table, priority, match, actions)] and group lines (as dump-groups
    prints them), both sorted."""
    items = sorted(_flow_item(*flow) for flow in flows)
    items.append("groups")
    items.extend(sorted(line.strip() for line in group_lines))
    return _digest("flows", items)


def node_flows(flows, cookie, dumped_groups, recorded):
    """Node side: ``flows`` [ovs.Flow] (a dump of every table), those with ``cookie`` count;
    ``dumped_groups`` {id: line} (ovs.parse_dump_groups; may hold foreign groups), ``recorded``
    the ids the bridge's external_ids record as ours.  A recorded id the switch lacks is an item
    of its own, so it never matches a plan."""
    owned = [(f.table, f.priority, f.match, f.actions) for f in flows if f.cookie == cookie]
    lines = [dumped_groups[i] for i in sorted(recorded) if i in dumped_groups]
    lines.extend("missing group_id=%d" % i for i in sorted(recorded) if i not in dumped_groups)
    return flows_digest(owned, lines)


def plan_flows(flows_text, groups_text):
    """Plan side: the compact plan's ``flows_text`` and ``groups_text`` (the phase-2 set, which
    holds the phase-1 mark flows and groups)."""
    flows = [(f["table"], f["priority"], f["match"], f["actions"]) for dummy, dummy2, f in parse_flows_text(flows_text)]
    groups = [line for line in groups_text.splitlines() if line.strip()]
    if len(set(group_id_of(line.strip()) for line in groups)) != len(groups):
        return None
    return flows_digest(flows, groups)


# ---------------------------------------------------------------------------------------
# SNAT / MASQUERADE / REJECT rules


def _chain_items(name, lines, owner, anchor_target):
    """The owned rules of one chain (argument lists, in chain order) and whether they sit where
    egress_snat's ChainPlan keeps them: right above the first foreign rule jumping to
    ``anchor_target`` (the chain's end without one), with no foreign rule among them and no
    foreign copy of one of them."""
    rules = [Rule(line) for line in lines]
    owned = [i for i, rule in enumerate(rules) if rule.owned(owner)]
    high = len(rules)
    if anchor_target:
        high = next((i for i, rule in enumerate(rules) if not rule.owned(owner) and rule.target == anchor_target),
                    len(rules))
    low = max([i for i in range(high) if not rules[i].owned(owner)] or [-1])
    keys = set(rule_key(lines[i]) for i in owned)
    copies = any(rule_key(lines[i]) in keys for i in range(len(lines)) if not rules[i].owned(owner))
    placed = owned == list(range(low + 1, high)) and not copies
    return [name] + [json.dumps(list(rule_key(lines[i]))) for i in owned] + ["placed" if placed else "misplaced"]


def rules_digest(nat_items, filter_items):
    return _digest("rules", nat_items + filter_items)


def node_rules(nat_lines, filter_lines, owner, anchor_target):
    """Node side: the lines (iptables-save, in order) of the SNAT chain and of the REJECT chain;
    None when either could not be read."""
    if nat_lines is None or filter_lines is None:
        return None
    return rules_digest(_chain_items("nat", nat_lines, owner, anchor_target),
                        _chain_items("filter", filter_lines, owner, None))


def plan_rules(snat_text, spec):
    """Plan side: the rules egress_snat writes for ``snat_text`` with the node's ``spec``
    {owner, chain, anchor, reject_chain, reject_inbound} (what the preflight read with) and
    the plan's cluster CIDRs and masquerade switch (``spec`` also holds cluster_cidrs and
    masquerade_cluster); None when the rules cannot be rendered."""
    from ansible_collections.sdn.egress.plugins.module_utils import snat  # snat imports much; only here

    params = {"chain": spec["chain"], "anchor_target": spec["anchor"], "reject_chain": spec["reject_chain"],
              "owner": spec["owner"], "state": "overridden", "create_chain": False, "conflicts": "fail",
              "remove_conflicts": False, "reject_inbound": spec["reject_inbound"],
              "masquerade_cluster": spec["masquerade_cluster"], "report_undeclared": False,
              "cluster_cidrs": spec["cluster_cidrs"], "rules": None, "rules_text": snat_text}
    try:
        wanted = snat.validate(params)
        nat = snat.nat_block(wanted)
        reject = snat.reject_block(wanted) if wanted.reject_inbound else []
    except (ValueError, AddrError):
        return None
    return rules_digest(["nat"] + [json.dumps(list(rule_key(line))) for line in nat] + ["placed"],
                        ["filter"] + [json.dumps(list(rule_key(line))) for line in reject] + ["placed"])


# ---------------------------------------------------------------------------------------
# addresses


def addresses_digest(entries):
    """entries [(address, interface, prefix)]."""
    return _digest("addresses", sorted("%s %s %d" % (str(a), i, p) for a, i, p in entries))


def node_addresses(interfaces, suffix):
    """Node side: our addresses (label ``<ifname>:<suffix>``) of ipaddr.parse_ip_addr interfaces."""
    entries = []
    for iface in interfaces:
        for item in iface["addresses"]:
            if suffix is not None and item["label"] == "%s:%s" % (iface["name"], suffix):
                entries.append((str(parse_ip(item["address"], "address")), iface["name"], item["prefix"]))
    return addresses_digest(entries)


def _local_networks(networks):
    """The preflight's ``networks`` {interface: [CIDR]} as ipaddr.LocalNetworks, so that the
    plan side places an address with egress_addr's own choose_interface."""
    nets = LocalNetworks()
    for name, cidrs in networks.items():
        nets[name] = [net for net in (parse_network(n, "network") for n in cidrs) if net.version == VERSION]
    return nets


def _place(address, nets, interface=None):
    """(interface, prefix) where egress_addr claims ``address`` (ipaddr.choose_interface over
    the node's local networks ``nets``); None when egress_addr could not place it that way
    (then the module runs and decides, or fails)."""
    try:
        return choose_interface((), address, interface=interface, nets=nets)
    except ClaimError:
        return None


def plan_addresses(addresses, named, networks):
    """Plan side: the compact plan's ``addresses`` (comma-separated, interface found by the
    node) and ``named_addresses`` [{interface, prefix?, addresses}], placed with the node's
    ``networks`` {interface: [CIDR]} (its preflight) as egress_addr would; None when one
    cannot be placed that way."""
    if networks is None:
        return None
    entries = []
    try:
        nets = _local_networks(networks)
        for address in [a for a in (addresses or "").split(",") if a]:
            place = _place(address, nets)
            if place is None:
                return None
            entries.append((str(parse_ip(address, "address")), place[0], place[1]))
        for group in named or []:
            for address in [a for a in (group.get("addresses") or "").split(",") if a]:
                prefix = group.get("prefix")
                if prefix is None:
                    place = _place(address, nets, group["interface"])
                    if place is None:
                        return None
                    prefix = place[1]
                entries.append((str(parse_ip(address, "address")), group["interface"], int(prefix)))
    except (AddrError, ValueError, TypeError):
        return None
    if len(set(e[0] for e in entries)) != len(entries):
        return None
    return addresses_digest(entries)


# ---------------------------------------------------------------------------------------
# the decision


def unchanged(node_plan, owned, networks, settings, masquerade_cluster, foreign):
    """{flows, rules, addresses: bool} for one node: True when the preflight's digest (``owned``,
    the preflight's result of that name; None: not read) equals the plan's, i.e. the phase's
    module would change nothing.  ``networks`` {interface: [CIDR]} (the preflight's);
    ``settings`` the plan's settings dict (cluster_cidrs and the conflict modes: with
    conflicts=remove a foreign object is the module's to remove, so the phase runs whenever the
    node has one: ``foreign`` {flows, rules: the preflight's foreign_flows / foreign_rules,
    None when not read})."""
    result = dict((kind, False) for kind in KINDS)
    if not isinstance(owned, dict):
        return result
    flows = plan_flows(node_plan["flows_text"], node_plan["groups_text"])
    result["flows"] = flows is not None and owned.get("flows") == flows and not (
        settings.get("flow_conflicts") == "remove" and foreign.get("flows") != [])
    spec = owned.get("rules_spec")
    if isinstance(spec, dict) and owned.get("rules"):
        spec = dict(spec, cluster_cidrs=settings["cluster_cidrs"], masquerade_cluster=masquerade_cluster)
        rules = plan_rules(node_plan["snat_text"], spec)
        result["rules"] = rules is not None and owned["rules"] == rules and not (
            settings.get("snat_conflicts") == "remove" and foreign.get("rules") != [])
    if owned.get("addresses"):
        addresses = plan_addresses(node_plan["addresses"], node_plan["named_addresses"], networks)
        result["addresses"] = addresses is not None and owned["addresses"] == addresses
    return result
