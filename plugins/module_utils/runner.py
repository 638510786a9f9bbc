# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to run a command-line tool, in the style of community.general's CmdRunner.

A ``CmdRunner`` is made once per tool and module run: the binary is found once
(``get_bin_path``), every call runs with ``LC_ALL=C`` (output parsed in one language) plus the
tool's own environment, and each argv is built by *name* from argument formats, never from a
shell string::

    runner = CmdRunner(module, "ovs-ofctl", {
        "protocol": fmt.opt_val("-O"),
        "no_names": fmt.fixed("--no-names"),
        "bundle": fmt.flag("--bundle"),
        "verb": fmt.positional(),
        "switch": fmt.positional(),
    })
    out = runner.run("protocol no_names verb switch", verb="dump-flows", switch="br0").out

A failure raises ``CommandError``, whose message names the command line and its stderr the
same way for every tool; modules turn it into ``fail_json(**exc.fail_args())``.  Each file
that owns an object kind builds the runner for its tool (``ovs.py``: ovs-ofctl, ovs-vsctl;
``iptables.py``: iptables-save/-restore; ``ipaddr.py``: ip).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex


class CommandError(Exception):
    """A command that failed; ``str()`` is "<command line> failed (rc=N): <stderr>"."""

    def __init__(self, argv, rc, out, err, what=None):
        self.argv, self.rc, self.out, self.err = list(argv), rc, out, err
        detail = (err or "").strip() or (out or "").strip() or "no output"
        message = "%s failed (rc=%s): %s" % (command_line(argv), rc, detail)
        if what:
            message = "%s: %s" % (what, message)
        super(CommandError, self).__init__(message)

    def fail_args(self):
        """Keyword arguments for AnsibleModule.fail_json."""
        return {"msg": str(self), "cmd": self.argv, "rc": self.rc, "stdout": self.out, "stderr": self.err}


def command_line(argv):
    """An argv as a shell would read it (for messages only; nothing is run through a shell)."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


class Result:
    __slots__ = ("argv", "rc", "out", "err")

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err


class fmt:
    """Argument formats: each turns the value of a named argument into argv items."""

    @staticmethod
    def fixed(*items):
        """Always these items (the value is ignored)."""
        return lambda value: list(items)

    @staticmethod
    def flag(option):
        """``option`` when the value is true, nothing otherwise."""
        return lambda value: [option] if value else []

    @staticmethod
    def opt_val(option):
        """``option value``; nothing when the value is None."""
        return lambda value: [] if value is None else [option, str(value)]

    @staticmethod
    def opt_eq_val(option):
        """``option=value``; nothing when the value is None."""
        return lambda value: [] if value is None else ["%s=%s" % (option, value)]

    @staticmethod
    def positional():
        """The value as one item; nothing when it is None."""
        return lambda value: [] if value is None else [str(value)]

    @staticmethod
    def items():
        """Each member of a list value as an item."""
        return lambda value: [str(item) for item in value or ()]


class CmdRunner:
    """Runs one tool with argv built from named argument formats (see module doc)."""

    def __init__(self, module, command, arg_formats, environ=None, ok_rcs=(0,)):
        self.module = module
        self.binary = module.get_bin_path(command, required=True)
        self.arg_formats = dict(arg_formats)
        self.environ = dict(environ or {})
        self.environ.update(LC_ALL="C", LANG="C")
        self.ok_rcs = tuple(ok_rcs)

    def argv(self, args_order, **values):
        """The argv for ``args_order`` (names separated by spaces, or a list of names)."""
        names = args_order.split() if isinstance(args_order, str) else list(args_order)
        argv = [self.binary]
        for name in names:
            if name not in self.arg_formats:
                raise KeyError("%s: no argument format named %s" % (self.binary, name))
            argv.extend(self.arg_formats[name](values.get(name)))
        return argv

    def run(self, args_order, data=None, ok_rcs=None, what=None, **values):
        """Run; a Result, or CommandError when the exit code is not in ``ok_rcs``."""
        argv = self.argv(args_order, **values)
        # no ~ or $VAR expansion: argv items are data (comments, names) as the user wrote them
        rc, out, err = self.module.run_command(argv, data=data, environ_update=self.environ,
                                               expand_user_and_vars=False)
        if rc not in (self.ok_rcs if ok_rcs is None else ok_rcs):
            raise CommandError(argv, rc, out, err, what)
        return Result(argv, rc, out, err)
