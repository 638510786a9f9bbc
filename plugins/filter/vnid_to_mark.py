# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vnid_to_mark
short_description: Packet mark openshift-sdn uses for a VNID's egress IP
version_added: 0.1.0
author:
  - sdn.egress developers (@sdn-egress)
description:
  - Computes the packet mark that openshift-sdn (C(getMarkForVNID)) sets in OVS and matches in
    the egress SNAT rule for a NetNamespace's VNID (C(netid)).
  - VNID 0 (global namespaces) becomes C(0xff000000). With O(rule=4.8) a VNID with the kubelet
    drop bit C(0x8000) set has that bit moved to C(0x10000000) first. A value with the
    masquerade bit set then has it moved to C(0x01000000).
  - The mark is printed the way iptables and ovs-ofctl print it, lowercase hex without zero
    padding (C(0x1df6552), not C(0x01df6552)).
  - The filter C(sdn.egress.vnid_to_hex) returns the VNID itself as hex (C(3064846) ->
    C(0x2ec40e)), the value openshift-sdn matches as C(reg0).
options:
  _input:
    description: The VNID (C(netid)), 0..16777215, as an integer or a decimal or C(0x) hex string.
    type: raw
    required: true
  rule:
    description:
      - C(3.x) for openshift-sdn 3.10 up to 4.7, C(4.8) for openshift-sdn 4.8 and later.
      - M(sdn.egress.egress_plan) uses the rule of its layout (C(sdn3) 3.x, C(sdn48) 4.8) unless
        its C(settings.mark_rule) says otherwise.
    type: str
    choices: ['3.x', '4.8']
    default: '3.x'
  masquerade_bit:
    description:
      - The kube-proxy iptables masquerade bit number (C(iptablesMasqueradeBit)); OpenShift uses 0,
        the mask C(0x1).
    type: int
    default: 0
seealso:
  - plugin: sdn.egress.vnid_to_hex
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Mark for egress-test2 (netid 14640467 = 0xdf6553)
  ansible.builtin.debug:
    msg: "{{ 14640467 | sdn.egress.vnid_to_mark }}"   # 0x1df6552

- name: Mark on openshift-sdn 4.8+
  ansible.builtin.debug:
    msg: "{{ 3064846 | sdn.egress.vnid_to_mark(rule='4.8') }}"   # 0x102e440e
"""

RETURN = r"""
_value:
  description: The packet mark, lowercase hex without zero padding.
  type: str
  sample: "0x1df6552"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sdn.egress.plugins.module_utils.marks import vnid_to_mark


def _vnid_to_mark(vnid, rule="3.x", masquerade_bit=0):
    try:
        return vnid_to_mark(vnid, rule=rule, masquerade_bit=masquerade_bit)
    except ValueError as exc:
        raise AnsibleFilterError("sdn.egress.vnid_to_mark: %s" % exc)


class FilterModule(object):
    """VNID -> packet mark filter (vnid_to_hex.py holds VNID -> hex)."""

    def filters(self):
        return {"vnid_to_mark": _vnid_to_mark}
