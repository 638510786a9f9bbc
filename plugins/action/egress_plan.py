# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for sdn.egress.egress_plan: runs the planner on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from collections.abc import Mapping

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR, show
from ansible_collections.sdn.egress.plugins.module_utils.marks import MARK_RULES
from ansible_collections.sdn.egress.plugins.module_utils.model import CONFLICT_MODES, DEFAULT_SETTINGS, FAILOVER_MODES
from ansible_collections.sdn.egress.plugins.module_utils.plan import LAYOUTS, plan
from ansible_collections.sdn.egress.plugins.module_utils.sources import (
    from_inventory,
    from_k8s_info,
    from_oc_json,
    merge_node_vars,
)

ARGUMENT_SPEC = {
    "source": {"type": "str", "default": "inventory", "choices": ["inventory", "oc_json", "k8s"]},
    "namespaces": {"type": "raw"},
    "namespaces_prefix": {"type": "str"},
    "namespaces_var": {"type": "str"},
    "compact": {"type": "bool", "default": False},
    "nodes": {"type": "raw"},
    "node_hosts": {"type": "list", "elements": "str"},
    "oc_json": {"type": "raw"},
    "node_vars": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "host_ip": {"type": "str"},
            "interfaces": {"type": "list", "elements": "dict"},
            "inventory_host": {"type": "str"},
        },
    },
    "node_facts": {"type": "dict", "default": {}},
    "settings": {
        "type": "dict",
        "default": {},
        "options": {
            "layout": {"type": "str", "choices": list(LAYOUTS), "default": DEFAULT_SETTINGS["layout"]},
            "cluster_cidrs": {"type": "list", "elements": "str", "default": DEFAULT_SETTINGS["cluster_cidrs"]},
            # mark_rule and table: the layout's unless given
            "mark_rule": {"type": "str", "choices": list(MARK_RULES)},
            "masquerade_bit": {"type": "int", "default": DEFAULT_SETTINGS["masquerade_bit"]},
            "table": {"type": "int"},
            "priority": {"type": "int", "default": DEFAULT_SETTINGS["priority"]},
            "strict": {"type": "bool", "default": False},
            "failover": {"type": "str", "choices": list(FAILOVER_MODES), "default": "run"},
            "failover_vni": {"type": "int"},
            # what the plan does about a foreign rule/flow in a node's preflight that takes a
            # declared namespace's traffic first: fail (a problem), warn (a warning), remove (nothing:
            # the modules delete it); snat_remove_conflicts true is the older spelling of remove
            "snat_conflicts": {"type": "str", "choices": list(CONFLICT_MODES), "default": "fail"},
            "snat_remove_conflicts": {"type": "bool", "default": False},
            "flow_conflicts": {"type": "str", "choices": list(CONFLICT_MODES), "default": "fail"},
            "flow_force": {"type": "bool", "default": False},
        },
    },
}
REQUIRED_IF = [
    ["source", "inventory", ["namespaces", "namespaces_prefix", "namespaces_var"], True],
    ["source", "inventory", ["nodes", "node_hosts"], True],
    ["source", "k8s", ["namespaces", "nodes"]],
    ["source", "oc_json", ["oc_json"]],
]


MUTUALLY_EXCLUSIVE = [["namespaces", "namespaces_prefix"], ["namespaces", "namespaces_var"], ["nodes", "node_hosts"]]
# what O(node_hosts) reads of each host (the role's names for a node's HostSubnet)
HOSTSUBNET_VAR = "egress_hostsubnet"
HOSTSUBNET_NAME_VAR = "egress_hostsubnet_name"
INTERFACES_VAR = "egress_interfaces"
_TEMPLATE_MARKS = ("{{", "{%", "{#")


def _has_template(value):
    """Whether a plain value holds a string that may be a Jinja template (cheap walk)."""
    if isinstance(value, str):
        return any(mark in value for mark in _TEMPLATE_MARKS)
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_template(item) for item in value)
    return False


class _InputError(ValueError):
    pass


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _fail(self, result, problems):
        result.update(failed=True, problems=problems,
                      msg="egress plan has %d problem(s): %s" % (len(problems), "; ".join(problems)))
        return result

    def _read_oc_json(self, value):
        """A dict, JSON text, or the path of a JSON file (searched like a `files/` lookup)."""
        if not isinstance(value, str) or value.lstrip().startswith(("{", "[")):
            return value
        try:
            path = self._find_needle("files", value)
            with open(path, "rb") as handle:
                return handle.read().decode("utf-8")
        except (AnsibleError, OSError, UnicodeDecodeError) as exc:
            raise ValueError("oc_json: %s cannot be read (%s)" % (value, exc))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        result["changed"] = False

        # a copy: the validator fills the `settings` default ({}) in place, and a None it leaves
        # there (mark_rule, table: the layout's) would fail the choices of the next run
        validation = ArgumentSpecValidator(copy.deepcopy(ARGUMENT_SPEC), mutually_exclusive=MUTUALLY_EXCLUSIVE,
                                           required_if=REQUIRED_IF).validate(self._task.args)
        if validation.error_messages:
            return self._fail(result, list(validation.error_messages))
        params = validation.validated_parameters
        if not HAS_NETADDR:
            return self._fail(result, ["the egress plan needs the Python library netaddr on the controller "
                                       "(python3-netaddr, or pip install netaddr): %s" % NETADDR_IMPORT_ERROR])

        if params["source"] == "inventory":
            namespaces = params["namespaces"]
            if namespaces is None:
                try:
                    namespaces = self._namespace_vars(task_vars or {}, params["namespaces_var"],
                                                      params["namespaces_prefix"])
                except _InputError as exc:
                    return self._fail(result, [str(exc)])
            nodes = params["nodes"]
            without = []
            if params["node_hosts"] is not None:
                try:
                    nodes, without = self._node_records(task_vars or {}, params["node_hosts"])
                except _InputError as exc:
                    return self._fail(result, [str(exc)])
            model = from_inventory(namespaces, nodes)
            if without:
                model["no_hostsubnet"] = [name for dummy, name in without]
                model["warnings"] = [{"field": "hosts[%s].%s" % (show(host), HOSTSUBNET_VAR), "value": None, "reason": (
                    "is not set: host %s (node %s) has no HostSubnet, nothing is planned for it (what this "
                    "collection owns there is removed)" % (show(host), show(name)))} for host, name in without]
        elif params["source"] == "k8s":
            model = from_k8s_info(params["namespaces"], params["nodes"])
        else:
            try:
                model = from_oc_json(self._read_oc_json(params["oc_json"]))
            except ValueError as exc:
                return self._fail(result, [str(exc)])
        if params["node_vars"]:
            model = merge_node_vars(model, params["node_vars"])

        planned = plan(model, params["node_facts"], params["settings"], compact=params["compact"])
        problems = planned.pop("problems")
        if problems:
            return self._fail(result, problems)
        if params["compact"]:
            # one string: Ansible copies, pickles and walks a result object by object on every
            # step (worker queue, callbacks, registering); 1000 rows are ~10000 objects
            planned["namespaces_json"] = json.dumps(planned.pop("namespaces"), separators=(",", ":"))
        result["plan"] = planned
        return result

    def _namespace_vars(self, task_vars, list_name, prefix):
        """The namespaces of the list variable ``list_name`` (if set and defined), then the value
        of every variable whose name starts with ``prefix`` (if set), in name order.

        Read straight from the task variables: a value is templated only when it holds a
        template, so 1000 namespaces cost no Jinja evaluation each.
        """
        values = []
        if list_name and list_name in task_vars:
            listed = self._resolve(task_vars[list_name])
            if listed is not None:
                if not isinstance(listed, (list, tuple)):
                    raise _InputError("%s: must be a list of namespaces, got %s" % (list_name, type(listed).__name__))
                values.extend(listed)
        if prefix:
            for name in sorted(key for key in task_vars if key.startswith(prefix) and key != list_name):
                values.append(self._resolve(task_vars[name]))
        return values

    def _node_records(self, task_vars, hosts):
        """(records, without): one node mapping per inventory host, from its ``egress_hostsubnet``
        (plus ``egress_hostsubnet_name`` and ``egress_interfaces``), as the role describes a node;
        ``without`` [(host, node name)] the hosts that have no ``egress_hostsubnet`` (no record).

        Read as stored (``hostvars.raw_get``); a value holding a template is templated in that
        host's context.  Avoids templating every node's egress IPs into the task arguments.
        """
        hostvars = task_vars.get("hostvars")
        if hostvars is None:
            raise _InputError("node_hosts: no hostvars to read the hosts' variables from")
        records, without = [], []
        for host in hosts:
            data = hostvars.raw_get(host)
            if not isinstance(data, Mapping):
                raise _InputError("node_hosts: %s is not in the inventory" % host)
            if HOSTSUBNET_VAR not in data:
                without.append((host, self._host_value(hostvars, host, data, HOSTSUBNET_NAME_VAR) or host))
                continue
            subnet = self._host_value(hostvars, host, data, HOSTSUBNET_VAR, {})
            if subnet is None:
                subnet = {}
            if not isinstance(subnet, Mapping):
                raise _InputError("%s of %s: must be a mapping (the node's HostSubnet), got %s: %r"
                                  % (HOSTSUBNET_VAR, host, type(subnet).__name__, subnet))
            record = dict(subnet)
            record["name"] = self._host_value(hostvars, host, data, HOSTSUBNET_NAME_VAR) or subnet.get("name") or host
            record["inventory_host"] = host
            if INTERFACES_VAR in data:
                record["interfaces"] = self._host_value(hostvars, host, data, INTERFACES_VAR)
            records.append(record)
        return records, without

    @staticmethod
    def _host_value(hostvars, host, data, name, default=None):
        """A host's variable as stored, or templated in the host's context if it holds a template."""
        if name not in data:
            return default
        if _has_template(data[name]):
            return hostvars[host][name]
        return data[name]

    def _resolve(self, value):
        if _has_template(value):
            value = self._templar.template(value)
        return value
