# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rundir option of the modules that run ovs-ofctl and ovs-vsctl (ovs_flow, ovs_ports)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  rundir:
    description:
      - OVS run directory of the target switch, passed to C(ovs-ofctl) and C(ovs-vsctl) as
        E(OVS_RUNDIR), so that a bridge name resolves to C(<rundir>/<bridge>.mgmt) and the
        database to C(<rundir>/db.sock).
      - Defaults to the run directory Open vSwitch was built with (usually C(/var/run/openvswitch)).
    type: path
"""
