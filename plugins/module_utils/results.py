# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the owned-object modules (egress_snat, egress_nft_snat, egress_ip_rule, ovn_lr_policy)
do the same way around their module_utils: fail on a ValueError of the validation with its
message, and finish a converge (the --diff of the owned objects before and after under one
header, before/after left out with return_state=false)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def lines_text(lines):
    """Owned objects, one line each, as diff text."""
    return "".join(line + "\n" for line in lines)


def validated(module, validate):
    """validate(module.params); a ValueError fails the module with its message."""
    try:
        return validate(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def exit_converged(module, result, where, text=lines_text):
    """exit_json with a converge's result: with --diff, text(before) and text(after) under the
    header `where`; without return_state, no before/after."""
    if module._diff:
        result["diff"] = dict(before=text(result["before"]), after=text(result["after"]),
                              before_header=where, after_header=where)
    if not module.params["return_state"]:
        result.pop("before", None)
        result.pop("after", None)
    module.exit_json(**result)
