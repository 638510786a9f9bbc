# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packet marks and register values of a VNID (openshift-sdn ``getMarkForVNID``).

Used by the intent model (every namespace's mark), the layouts (``reg0=`` matches) and the
``vnid_to_mark`` / ``vnid_to_hex`` filters.  Integers are parsed by addr.parse_int.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.addr import error, parse_int

MAX_VNID = 0xFFFFFF
GLOBAL_VNID_MARK = 0xFF000000
KUBELET_DROP_BIT = 0x8000
MARK_RULES = ("3.x", "4.8")


def parse_vnid(value, field="vnid"):
    """A VNID (``netid``) 0..16777215 from an int or a decimal / 0x-hex string (AddrError)."""
    return parse_int(value, field, 0, MAX_VNID)


def mark_mask(rule, masquerade_bit):
    """``1 << masquerade_bit`` for a valid rule and bit; AddrError naming the field otherwise."""
    if rule not in MARK_RULES:
        raise error("mark_rule", rule, "is not one of %s" % ", ".join(MARK_RULES))
    return 1 << parse_int(masquerade_bit, "masquerade_bit", 0, 31)


def mark_value(vnid, rule, mask):
    """getMarkForVNID on validated input; ``mask`` is 1 << the masquerade bit."""
    value = vnid or GLOBAL_VNID_MARK
    if rule == "4.8" and value & KUBELET_DROP_BIT:
        value = (value | 0x10000000) ^ KUBELET_DROP_BIT
    if value & mask:
        value = (value | 0x01000000) ^ mask
    return value


def vnid_to_mark(vnid, rule="3.x", masquerade_bit=0):
    """Packet mark for a VNID, printed like iptables and ovs-ofctl print it ("0x1df6552").

    ``rule`` "3.x" (openshift-sdn up to 4.7) or "4.8" (4.8+ also moves the kubelet drop bit
    0x8000 to 0x10000000, first).  ``masquerade_bit`` is the kube-proxy iptables masquerade
    bit *number* (openshift default 0, mask 0x1).
    Raises ValueError (AddrError) for a bad VNID, rule or bit.
    """
    mask = mark_mask(rule, masquerade_bit)
    return "0x%x" % mark_value(parse_vnid(vnid), rule, mask)


def vnid_to_hex(vnid):
    """VNID as a hex literal ("0x2ec40e"); the form ``reg0=`` takes in a flow match."""
    return "0x%x" % parse_vnid(vnid)


def ovs_reg(value):
    """A register value the way ovs-ofctl prints it (C "%#x": 0 prints as "0")."""
    return "0x%x" % value if value else "0"
