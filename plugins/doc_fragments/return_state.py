# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The return_state option of ovs_flow, egress_snat and egress_addr."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  return_state:
    description:
      - Return RV(before) and RV(after), the whole state in the module's scope (flows, rules or
        addresses) before and after the run.
      - With V(false) both are left out of the result; RV(commands) and the other change lists still
        say what changed, and C(--diff) still shows before and after. With thousands of entries they
        are most of the result, which the module scrubs and Ansible decodes, copies and registers on
        every run; the role M(sdn.egress.egress_node) sets V(false).
    type: bool
    default: true
"""
