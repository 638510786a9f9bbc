# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for sdn.egress.egress_report: writes the run report on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.sdn.egress.plugins.module_utils.report import (
    JSON_NAME,
    MARKDOWN_NAME,
    collect_nodes,
    dataplane_rows,
    render_json,
    render_markdown,
    summary,
    warning_lines,
    write_if_changed,
)

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "plan_var": {"type": "str", "default": "egress_plan"},
}
DIR_MODE = 0o755
FILE_MODE = 0o644


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _fail(self, result, msg):
        result.update(failed=True, msg=msg)
        return result

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        result["changed"] = False  # the report is a record of the run, not state being converged
        task_vars = task_vars or {}

        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            return self._fail(result, "; ".join(validation.error_messages))
        params = validation.validated_parameters

        namespaces = self._namespaces(task_vars, params["plan_var"])
        if namespaces is None:
            return self._fail(result, "%s.plan.namespaces (or namespaces_json) is not defined: register the result of "
                                      "sdn.egress.egress_plan as %s before the report" % ((params["plan_var"],) * 2))

        hosts = params["hosts"]
        if hosts is None:
            hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        try:
            hosts_vars = self._hosts_vars(task_vars, hosts)
        except KeyError as exc:
            return self._fail(result, "not in the inventory: %s" % exc.args[0])

        check_mode = bool(self._task.check_mode)
        nodes = collect_nodes(hosts_vars)
        namespaces = dataplane_rows(namespaces, nodes)  # dataplane failover: which bucket serves now
        warnings = self._plan_warnings(task_vars, params["plan_var"])
        texts = (
            (JSON_NAME, render_json(check_mode, namespaces, nodes, warnings)),
            (MARKDOWN_NAME, render_markdown(check_mode, namespaces, nodes, warnings)),
        )

        dest = os.path.abspath(params["dest"])
        paths = {}
        updated = []
        try:
            if not os.path.isdir(dest):
                os.makedirs(dest, DIR_MODE)
                os.chmod(dest, DIR_MODE)
            for name, text in texts:
                path = os.path.join(dest, name)
                paths["json" if name == JSON_NAME else "markdown"] = path
                if write_if_changed(path, text, FILE_MODE):
                    updated.append(path)
        except OSError as exc:
            return self._fail(result, "cannot write the report in %s: %s" % (dest, exc))

        result.update(dest=dest, paths=paths, updated=updated, check_mode=check_mode,
                      summary=dict(summary(namespaces, nodes), warnings=len(warnings)))
        if warnings:
            # printed by Ansible as [WARNING] lines: this task is the last of the run
            result["warnings"] = warning_lines(warnings)
        return result

    def _plan_warnings(self, task_vars, plan_var):
        """``<plan_var>.plan.warnings`` as stored ([] when the plan has none)."""
        value = task_vars.get(plan_var)
        if isinstance(value, str):
            value = self._templar.template(value)
        plan = value.get("plan") if isinstance(value, Mapping) else None
        warnings = plan.get("warnings") if isinstance(plan, Mapping) else None
        return list(warnings) if isinstance(warnings, (list, tuple)) else []

    def _namespaces(self, task_vars, plan_var):
        """``<plan_var>.plan.namespaces`` read as stored, without templating each element."""
        value = task_vars.get(plan_var)
        if isinstance(value, str):  # a variable holding a template rather than a registered result
            value = self._templar.template(value)
        plan = value.get("plan") if isinstance(value, Mapping) else None
        if not isinstance(plan, Mapping):
            return None
        namespaces = plan.get("namespaces")
        if namespaces is None and isinstance(plan.get("namespaces_json"), str):
            try:  # the compact plan carries the rows as JSON text
                namespaces = json.loads(plan["namespaces_json"])
            except ValueError:
                return None
        return namespaces if isinstance(namespaces, (list, tuple)) else None

    @staticmethod
    def _hosts_vars(task_vars, hosts):
        """``[(host, its variables as stored)]``; ``hostvars.raw_get`` templates nothing."""
        hostvars = task_vars.get("hostvars")
        out = []
        missing = []
        for host in hosts:
            data = hostvars.raw_get(host) if hostvars is not None else None
            if not isinstance(data, Mapping):
                missing.append(host)
                continue
            out.append((host, data))
        if missing:
            raise KeyError(", ".join(missing))
        return out
