# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for sdn.egress.egress_report: writes the run report on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import shutil
import subprocess
from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.sdn.egress.plugins.module_utils.report import (
    JSON_NAME,
    MARKDOWN_NAME,
    PNG_NAME,
    SVG_NAME,
    collect_nodes,
    dataplane_rows,
    operator_summary,
    render_dot,
    render_json,
    render_markdown,
    summary,
    summary_lines,
    warning_lines,
    write_if_changed,
)

ARGUMENT_SPEC = {
    "dest": {"type": "path"},
    "hosts": {"type": "list", "elements": "str"},
    "plan_var": {"type": "str", "default": "egress_plan"},
    "run_token": {"type": "str"},
    "started": {"type": "str"},
    "picture": {"type": "bool", "default": True},
    "picture_limit": {"type": "int", "default": 200},
    "stats_var": {"type": "str", "default": "egress_summary"},
}
DIR_MODE = 0o755
FILE_MODE = 0o644
DOT_TIMEOUT = 120
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_report_dir(environ=None):
    """``$XDG_STATE_HOME/sdn.egress/reports``, else ``~/.local/state/sdn.egress/reports``: a
    directory of the user who runs the playbook, outside the collection and the playbook (an
    AWX job's home is writable; its project directory is thrown away)."""
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "sdn.egress", "reports")


def collection_version(root=COLLECTION_ROOT):
    """The version of this collection: MANIFEST.json of an installed collection, else the
    galaxy.yml of a source checkout; None when neither says."""
    try:
        with open(os.path.join(root, "MANIFEST.json")) as handle:
            return str(json.load(handle)["collection_info"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        import yaml
        with open(os.path.join(root, "galaxy.yml")) as handle:
            return str(yaml.safe_load(handle)["version"])
    except (OSError, ValueError, KeyError, TypeError, ImportError, AttributeError):
        return None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_pictures(dot_text, dot=None):
    """``({"svg": bytes, "png": bytes}, None)`` rendered by graphviz ``dot``, or ``({}, why not)``."""
    dot = dot or shutil.which("dot")
    if not dot:
        return {}, "not rendered as SVG/PNG: graphviz (dot) is not installed on the controller; the mermaid block " \
                   "of the Markdown report has the same picture"
    images = {}
    for kind in ("svg", "png"):
        try:
            proc = subprocess.run([dot, "-T" + kind], input=dot_text.encode("utf-8"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=DOT_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return {}, "not rendered as SVG/PNG: %s -T%s: %s" % (dot, kind, exc)
        if proc.returncode != 0:
            return {}, "not rendered as SVG/PNG: %s -T%s exited %d: %s" % (
                dot, kind, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()[:300])
        images[kind] = proc.stdout
    return images, None


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
        dest = os.path.abspath(params["dest"] or default_report_dir())

        images, note = {}, None
        if not params["picture"]:
            note = "not rendered as SVG/PNG (picture=false)"
        elif sum(1 for ns in namespaces if isinstance(ns, Mapping) and ns.get("egress_ips")) > params["picture_limit"]:
            note = "not rendered as SVG/PNG: more namespaces with egress IPs than picture_limit (%d)" % (
                params["picture_limit"])
        else:
            images, note = render_pictures(render_dot(namespaces))
        run = {
            "token": params["run_token"] or task_vars.get("egress_run_token"),
            "started": params["started"] or task_vars.get("egress_run_started"),
            "finished": utc_now(),
            "collection_version": collection_version(),
            "check_mode": check_mode,
            "picture": {"svg": os.path.join(dest, SVG_NAME) if "svg" in images else None,
                        "png": os.path.join(dest, PNG_NAME) if "png" in images else None,
                        "note": note},
        }
        files = [("json", JSON_NAME, render_json(check_mode, namespaces, nodes, warnings, run)),
                 ("markdown", MARKDOWN_NAME, render_markdown(check_mode, namespaces, nodes, warnings, run))]
        files += [(kind, name, images[kind]) for kind, name in (("svg", SVG_NAME), ("png", PNG_NAME)) if kind in images]

        paths = {}
        updated = []
        try:
            if not os.path.isdir(dest):
                os.makedirs(dest, DIR_MODE)
                os.chmod(dest, DIR_MODE)
            for kind, name, content in files:
                path = os.path.join(dest, name)
                paths[kind] = path
                if write_if_changed(path, content, FILE_MODE):
                    updated.append(path)
        except OSError as exc:
            return self._fail(result, "cannot write the report in %s: %s" % (dest, exc))

        operator = operator_summary(check_mode, namespaces, nodes, paths, run, warnings)
        result.update(dest=dest, paths=paths, updated=updated, check_mode=check_mode,
                      summary=dict(summary(namespaces, nodes), warnings=len(warnings)),
                      msg=summary_lines(operator),
                      # what ansible.builtin.set_stats returns: the strategy publishes it (AWX keeps
                      # it as the job's artifacts, ansible-runner in artifacts/<ident>/custom)
                      ansible_stats={"data": {params["stats_var"]: operator}, "per_host": False, "aggregate": False})
        # printed without -v (as debug prints): the summary is this task's output
        result["_ansible_verbose_always"] = True
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
