# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vnid_to_hex
short_description: A VNID as the hex value openshift-sdn matches in reg0
version_added: 0.1.0
author:
  - sdn.egress developers (@sdn-egress)
description:
  - Returns a NetNamespace's VNID (C(netid)) as lowercase hex without zero padding
    (C(3064846) -> C(0x2ec40e)), the way ovs-ofctl prints the C(reg0) match of openshift-sdn's
    flows for that namespace.
  - It is the VNID itself, not the packet mark; the mark is C(sdn.egress.vnid_to_mark).
options:
  _input:
    description: The VNID (C(netid)), 0..16777215, as an integer or a decimal or C(0x) hex string.
    type: raw
    required: true
seealso:
  - plugin: sdn.egress.vnid_to_mark
    plugin_type: filter
"""

EXAMPLES = r"""
- name: VNID as the hex value of reg0 in the flows
  ansible.builtin.debug:
    msg: "{{ 3064846 | sdn.egress.vnid_to_hex }}"   # 0x2ec40e

- name: A hex string is read too
  ansible.builtin.debug:
    msg: "{{ '0x2EC40E' | sdn.egress.vnid_to_hex }}"   # 0x2ec40e
"""

RETURN = r"""
_value:
  description: The VNID, lowercase hex without zero padding.
  type: str
  sample: "0x2ec40e"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sdn.egress.plugins.module_utils.marks import vnid_to_hex


def _vnid_to_hex(vnid):
    try:
        return vnid_to_hex(vnid)
    except ValueError as exc:
        raise AnsibleFilterError("sdn.egress.vnid_to_hex: %s" % exc)


class FilterModule(object):
    """VNID -> hex filter."""

    def filters(self):
        return {"vnid_to_hex": _vnid_to_hex}
