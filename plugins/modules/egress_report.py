# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation stub; the work is done by the action plugin of the same name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: egress_report
short_description: Write the report of an egress run on the controller and print its summary
version_added: 0.1.0
author:
  - sdn.egress developers (@sdn-egress)
description:
  - Writes C(egress-report.json) and C(egress-report.md) (and the picture as C(egress-report.svg)
    and C(egress-report.png) when graphviz C(dot) is installed on the controller) into O(dest) after a run of
    C(playbooks/egress.yml) - the namespace table of the plan, a mermaid picture namespace ->
    egress IP -> node, and per node whether it answered, whether anything changed, the addresses
    claimed and released and the flow and iptables commands applied (in check mode, that would
    be applied).
  - Runs on the controller and touches no host. It reads the plan and what every host registered
    as they are stored, without templating them, so its cost grows by microseconds per namespace
    and per command.
  - Per host it reads these variables, each optional (missing or skipped counts as empty) -
    C(egress_node_name) (the node's name, default the inventory name), C(egress_node_facts)
    (C(reachable)), the M(sdn.egress.egress_addr) results C(egress_claim) and C(egress_released),
    the M(sdn.egress.ovs_flow) results C(egress_mark_flows) and C(egress_flows), and the
    M(sdn.egress.egress_snat) results C(egress_snat_added) and C(egress_snat_pruned).
  - The plan's C(warnings) (intent that is ignored or leaves a namespace dropped, see
    M(sdn.egress.egress_plan)) are returned as this task's warnings, so Ansible prints them as
    C([WARNING]) lines; as the last task of C(playbooks/egress.yml) they end the output. They are
    also the first section of C(egress-report.md) and the C(warnings) key of C(egress-report.json).
  - A node counts as changed when any of those results changed. The addresses claimed are those
    of C(egress_claim).
  - The report states whether the run was a check (C(--check) or the C(check_mode) keyword
    reaching this task) or a converge, the run's token (O(run_token)), its start (O(started)) and
    end time (UTC) and the version of this collection (its C(MANIFEST.json), else C(galaxy.yml)).
  - The summary an operator needs - per namespace with egress IPs the IPs in use, their nodes and
    the state; per node whether it answered and what changed; where the reports are - is returned
    as RV(msg) and printed without C(-v), and published as M(ansible.builtin.set_stats) does
    (C(ansible_stats), not per host) under O(stats_var); AWX keeps it with the job,
    ansible-runner in C(artifacts/<ident>/custom).
  - A file is replaced atomically (written beside it, then renamed) and only when its content
    differs. The task never reports a change - the report is a record of the run, not state
    being converged.
options:
  dest:
    description:
      - Directory on the controller for the files; created (mode C(0755)) when missing.
      - A relative path is taken from the current directory of C(ansible-playbook).
      - Default C($XDG_STATE_HOME/sdn.egress/reports), else C(~/.local/state/sdn.egress/reports) -
        a directory of the user running the playbook, never inside the collection.
    type: path
  run_token:
    description: The run's token (the one that holds the node locks). Default C(egress_run_token).
    type: str
  started:
    description: When the run started (UTC, ISO 8601). Default C(egress_run_started).
    type: str
  picture:
    description: Render the namespace -> egress IP -> node picture as SVG and PNG with graphviz C(dot).
    type: bool
    default: true
  picture_limit:
    description: No SVG/PNG when more namespaces than this have egress IPs (the report says so).
    type: int
    default: 200
  stats_var:
    description: Name under which the summary is published with the run's stats.
    type: str
    default: egress_summary
  hosts:
    description:
      - The inventory hosts whose results are reported.
      - Default is the play's hosts, C(ansible_play_hosts_all).
    type: list
    elements: str
  plan_var:
    description:
      - Name of the variable holding the registered result of M(sdn.egress.egress_plan); its
        C(plan.namespaces) is the namespace table of the report.
    type: str
    default: egress_plan
attributes:
  check_mode:
    support: full
    description: The report is written in check mode too, saying that nothing was changed.
  diff_mode:
    support: none
    description: The report is a record, there is no diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - Run it once, C(run_once=true), after the hosts have registered their results. With
    C(delegate_to=localhost) the other hosts' results are still read through C(hostvars).
seealso:
  - module: sdn.egress.egress_plan
  - module: sdn.egress.egress_addr
  - module: sdn.egress.ovs_flow
  - module: sdn.egress.egress_snat
"""

EXAMPLES = r"""
- name: Write the run report
  sdn.egress.egress_report:
    dest: /var/tmp/egress-reports
  run_once: true
  delegate_to: localhost

- name: Report two nodes only, from a plan registered under another name
  sdn.egress.egress_report:
    dest: /var/tmp/egress
    hosts: [ocprouter01, ocprouter02]
    plan_var: egress
  run_once: true
"""

RETURN = r"""
msg:
  description: The operator summary, one line each (printed at the end of the run).
  returned: success
  type: list
  elements: str
  sample:
    - sdn.egress 0.1.0 run 20261130T100000-42 (converge), 2026-11-30T10:00:00Z -> 2026-11-30T10:00:05Z
    - "namespace egress-a: 192.0.2.51 on router-01 (active)"
    - "node router-01: changed - addresses claimed 192.0.2.51, released -, 2 flow commands, 3 iptables lines"
    - "report (markdown): /home/u/.local/state/sdn.egress/reports/egress-report.md"
dest:
  description: The report directory, as an absolute path.
  returned: success
  type: str
  sample: /srv/egress/reports
paths:
  description: The two report files.
  returned: success
  type: dict
  contains:
    json:
      description: Path of C(egress-report.json) - C({check_mode, namespaces, nodes, warnings, run}), indented
        by 4, keys sorted (C(warnings) the plan's C({field, value, reason}) list).
      type: str
      sample: /srv/egress/reports/egress-report.json
    markdown:
      description: Path of C(egress-report.md).
      type: str
      sample: /srv/egress/reports/egress-report.md
    svg:
      description: Path of C(egress-report.svg), when graphviz rendered it.
      type: str
      sample: /srv/egress/reports/egress-report.svg
    png:
      description: Path of C(egress-report.png), when graphviz rendered it.
      type: str
      sample: /srv/egress/reports/egress-report.png
updated:
  description: The files that were rewritten because their content differed (the others were left alone).
  returned: success
  type: list
  elements: str
  sample: [/srv/egress/reports/egress-report.json, /srv/egress/reports/egress-report.md]
check_mode:
  description: Whether the report says the run was a check.
  returned: success
  type: bool
  sample: false
summary:
  description: Counts over the report.
  returned: success
  type: dict
  contains:
    namespaces:
      description: Namespaces in the plan.
      type: int
    namespaces_by_state:
      description: Namespaces per state (C(active), C(dropped), C(no-egress)).
      type: dict
    nodes:
      description: Nodes reported.
      type: int
    nodes_changed:
      description: Nodes where something changed (or would change, in check mode).
      type: int
    nodes_unreachable:
      description: Nodes that did not answer.
      type: int
    addresses_claimed:
      description: Addresses claimed on all nodes.
      type: int
    addresses_released:
      description: Addresses released on all nodes.
      type: int
    flow_commands:
      description: Flow commands on all nodes.
      type: int
    iptables_commands:
      description: iptables-restore lines on all nodes.
      type: int
    warnings:
      description: Warnings of the plan (printed by this task, see the description).
      type: int
  sample:
    namespaces: 4
    namespaces_by_state: {active: 3, no-egress: 1}
    nodes: 3
    nodes_changed: 2
    nodes_unreachable: 0
    addresses_claimed: 3
    addresses_released: 0
    flow_commands: 9
    iptables_commands: 8
"""
