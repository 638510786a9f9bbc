# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for sdn.egress.egress_plan: runs the planner on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.sdn.egress.plugins.module_utils.planner import (
    DEFAULT_SETTINGS,
    MARK_RULES,
    from_inventory,
    from_k8s_info,
    from_oc_json,
    merge_node_vars,
    plan,
)

ARGUMENT_SPEC = {
    "source": {"type": "str", "default": "inventory", "choices": ["inventory", "oc_json", "k8s"]},
    "namespaces": {"type": "raw"},
    "nodes": {"type": "raw"},
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
            "cluster_cidrs": {"type": "list", "elements": "str", "default": DEFAULT_SETTINGS["cluster_cidrs"]},
            "mark_rule": {"type": "str", "choices": list(MARK_RULES), "default": DEFAULT_SETTINGS["mark_rule"]},
            "masquerade_bit": {"type": "int", "default": DEFAULT_SETTINGS["masquerade_bit"]},
            "table": {"type": "int", "default": DEFAULT_SETTINGS["table"]},
            "priority": {"type": "int", "default": DEFAULT_SETTINGS["priority"]},
            "cookie": {"type": "raw"},
        },
    },
}
REQUIRED_IF = [
    ["source", "inventory", ["namespaces", "nodes"]],
    ["source", "k8s", ["namespaces", "nodes"]],
    ["source", "oc_json", ["oc_json"]],
]


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

        validation = ArgumentSpecValidator(ARGUMENT_SPEC, required_if=REQUIRED_IF).validate(self._task.args)
        if validation.error_messages:
            return self._fail(result, list(validation.error_messages))
        params = validation.validated_parameters

        if params["source"] == "inventory":
            model = from_inventory(params["namespaces"], params["nodes"])
        elif params["source"] == "k8s":
            model = from_k8s_info(params["namespaces"], params["nodes"])
        else:
            try:
                model = from_oc_json(self._read_oc_json(params["oc_json"]))
            except ValueError as exc:
                return self._fail(result, [str(exc)])
        if params["node_vars"]:
            model = merge_node_vars(model, params["node_vars"])

        planned = plan(model, params["node_facts"], params["settings"])
        problems = planned.pop("problems")
        if problems:
            return self._fail(result, problems)
        result["plan"] = planned
        return result
