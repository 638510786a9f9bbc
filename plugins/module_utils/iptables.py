# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables as this collection uses it: parse ``iptables-save`` output, render rules exactly as
``iptables-save`` prints them (same bytes with iptables-nft and iptables-legacy 1.8), compute
where rules must go in a chain, build one ``iptables-restore --noflush`` payload, and run
``iptables-save``/``iptables-restore`` of either backend (``Iptables``, one CmdRunner per tool).

Marks, addresses and networks are parsed by addr.py; the policy of the SNAT rules (which rules a
node wants, which owned rules go) is in snat.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import bisect

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, MAX_PREFIX, parse_int, parse_ip, parse_network
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, fmt

MARK_MAX = 0xFFFFFFFF
COMMENT_MAX = 255          # xt_comment keeps 255 bytes and silently truncates the rest
CHAIN_NAME_MAX = 28        # iptables refuses longer chain names
VERSION = 4                # iptables is IPv4 (ip6tables would be 6)

# xtables_save_string(): words made of these characters are printed bare, anything else is
# printed in double quotes with ", \ and ' escaped by a backslash.
_BARE_RE = re.compile(r"[-_0-9a-zA-Z]+\Z")  # a word printed bare: letters, digits, '_' and '-' only
_ESCAPED = frozenset("\"\\'")
_ESCAPED_RE = re.compile(r"[\"\\\\']")


# ---------------------------------------------------------------------------------------
# values in the form iptables-save prints them (parsed by addr.py; AddrError names field and value)

def mark_number(value, field):
    """A mark: an int, or a decimal / 0x-hex string, 0..0xffffffff. iptables-save prints it as
    ``hex(number)`` (``0x2ec40e``)."""
    return parse_int(value, field, 0, MARK_MAX)


def address_text(value, field):
    """An address of the family iptables handles, in its canonical text. An IPv4 address that
    addr.parse_ip accepts (inet_pton: four decimal parts, no leading zeros) is written in its
    one canonical form already, so its text is kept rather than formatted again."""
    ip = parse_ip(value, field, VERSION)
    return value.strip() if ip.version == 4 else str(ip)


def cidr_text(value, field):
    """A network (``10.128.0.0/14``; host bits set is refused) as iptables-save prints it; a bare
    address is the network of that one address (``192.0.2.7/32``)."""
    if isinstance(value, str) and "/" not in value:
        try:
            return "%s/%d" % (parse_ip(value, field, VERSION), MAX_PREFIX[VERSION])
        except AddrError:
            pass  # refused below, as a network
    return str(parse_network(value, field, VERSION))


def check_chain_name(value):
    if not value or len(value) > CHAIN_NAME_MAX or value[0] in "-!" or any(c.isspace() for c in value):
        raise ValueError("%r is not a valid chain name (1..%d characters, no blanks, not starting with - or !)"
                         % (value, CHAIN_NAME_MAX))
    return value


_CONTROL_RE = re.compile(u"[\\x00-\\x1f\\x7f]")


def check_comment_text(value, allow_space=True):
    """Comments go into a line-based restore payload: no control characters, no blanks in the tag."""
    if _CONTROL_RE.search(value):
        raise ValueError("%r contains control characters" % (value,))
    if not allow_space and (not value or any(c.isspace() for c in value)):
        raise ValueError("%r must be non-empty and contain no blanks" % (value,))
    return value


def owner_comment(owner, name=None):
    comment = "%s %s" % (owner, name) if name else owner
    if len(comment.encode("utf-8")) > COMMENT_MAX:
        raise ValueError("comment %r is longer than %d bytes" % (comment, COMMENT_MAX))
    return comment


def is_owned(comment, owner):
    """Owned: the comment is exactly the owner tag, or the tag followed by a space."""
    return comment is not None and (comment == owner or comment.startswith(owner + " "))


# ---------------------------------------------------------------------------------------
# tokens: quoting as iptables-save prints, splitting as iptables-restore reads

def quote(value):
    """Quote one argument exactly like iptables-save (xtables_save_string)."""
    if _BARE_RE.match(value):
        return value
    if not _ESCAPED_RE.search(value):
        return '"%s"' % value
    return '"%s"' % "".join("\\" + c if c in _ESCAPED else c for c in value)


# without backslashes, an argument is quoted parts and bare characters back to back
_ARG_NO_ESCAPES = re.compile(r'(?:"[^"]*"|[^ \t\n"])+')


def split_line(line):
    """Split a rule line into arguments the way iptables-restore does.

    Double quotes group; inside them a backslash escapes the next character. Outside quotes
    a backslash is literal. Blanks separate arguments.
    """
    if "\\" not in line and line.count('"') % 2 == 0:
        # every quote is closed and nothing is escaped: one regular expression does it
        return [token.replace('"', "") for token in _ARG_NO_ESCAPES.findall(line)]
    return _split_line_chars(line)


def _split_line_chars(line):
    """split_line, one character at a time (the general case)."""
    args = []
    buf = []
    in_quote = escaped = started = False
    for char in line:
        if in_quote:
            if escaped:
                buf.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
            else:
                buf.append(char)
        elif char == '"':
            in_quote = started = True
        elif char in " \t\n":
            if started:
                args.append("".join(buf))
                buf = []
                started = False
        else:
            buf.append(char)
            started = True
    if in_quote:
        raise ValueError("unterminated quote in %r" % (line,))
    if started:
        args.append("".join(buf))
    return args


_KEYS = {}


def rule_key(line):
    """Comparison key of a rule line: its arguments after unquoting (quoting style does not matter).

    Remembered per line: a run compares the same lines several times (current, planned, read back).
    """
    key = _KEYS.get(line)
    if key is None:
        key = _KEYS[line] = tuple(split_line(line))
    return key


# ---------------------------------------------------------------------------------------
# iptables-save parsing

class Rule:
    """One ``-A CHAIN ...`` line of iptables-save with the fields this collection needs."""

    def __init__(self, line):
        self.line = line
        self.args = list(rule_key(line))
        if len(self.args) < 2 or self.args[0] != "-A":
            raise ValueError("not a rule line: %r" % (line,))
        self.chain = self.args[1]
        self.comments = []
        self.target = self.mark = self.source = self.destination = self.to_source = None
        args = self.args
        for i, arg in enumerate(args[:-1]):
            value = args[i + 1]
            negated = i > 0 and args[i - 1] == "!"
            if arg == "--comment":
                self.comments.append(value)
            elif arg == "-j":
                self.target = value
            elif arg == "--mark" and not negated and "/" not in value:
                self.mark = value          # masked or negated mark matches are not "this mark"
            elif arg == "-s" and not negated:
                self.source = value
            elif arg == "-d" and not negated:
                self.destination = value
            elif arg == "--to-source":
                self.to_source = value

    def owned(self, owner):
        return any(is_owned(c, owner) for c in self.comments)


# options of a rule line that take exactly one value (others take every word up to the next option)
_ONE_VALUE = frozenset(("-s", "--source", "-d", "--destination", "-i", "--in-interface", "-o",
                        "--out-interface", "-p", "--protocol", "-m", "--match", "-j", "--jump", "-g",
                        "--goto", "--comment", "--mark"))


class Match:
    """One match option of a rule: the match module (None for the built-in -s/-d/-i/-o/-p),
    the option, its value (words joined by blanks, "" for none) and whether ``!`` negates it."""

    __slots__ = ("module", "option", "value", "negated")

    def __init__(self, module, option, value, negated):
        self.module, self.option, self.value, self.negated = module, option, value, negated

    def text(self):
        head = "%s%s" % ("! " if self.negated else "", self.option)
        return "%s %s" % (head, self.value) if self.value else head

    def __repr__(self):
        return "Match(%r, %r, %r, %r)" % (self.module, self.option, self.value, self.negated)


class Terms:
    """A rule line taken apart: ``matches`` [Match] in order (``-m MODULE`` itself is not a
    match, it names the module of the options after it), ``target`` (the -j or -g chain or
    target, None without one), ``goto`` (True for -g) and ``target_args`` (the words after it)."""

    def __init__(self, line):
        args = list(rule_key(line))
        if len(args) < 2 or args[0] != "-A":
            raise ValueError("not a rule line: %r" % (line,))
        self.chain = args[1]
        self.matches = []
        self.target = None
        self.goto = False
        self.target_args = []
        module, negated, i = None, False, 2
        while i < len(args):
            word = args[i]
            i += 1
            if word == "!":
                negated = True
                continue
            if word in ("-j", "--jump", "-g", "--goto"):
                self.target = args[i] if i < len(args) else None
                self.goto = word in ("-g", "--goto")
                self.target_args = args[i + 1:]
                break
            values = []
            if word in _ONE_VALUE:
                if i < len(args):
                    values.append(args[i])
                    i += 1
            else:
                while i < len(args) and args[i] != "!" and not args[i].startswith("-"):
                    values.append(args[i])
                    i += 1
            if word in ("-m", "--match"):
                module = values[0] if values else None
            else:
                builtin = word in ("-s", "--source", "-d", "--destination", "-i", "--in-interface",
                                   "-o", "--out-interface", "-p", "--protocol")
                self.matches.append(Match(None if builtin else module, word, " ".join(values), negated))
            negated = False


class Table:
    def __init__(self, name):
        self.name = name
        self.chains = []          # chain names in the order iptables-save declares them
        self.rules = {}           # chain -> [raw rule lines]

    def has_chain(self, chain):
        return chain in self.rules


def parse_save(text):
    """Parse iptables-save output into {table name: Table}."""
    tables = {}
    table = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = tables[line[1:].strip()] = Table(line[1:].strip())
        elif table is None:
            raise ValueError("line %d outside a table: %r" % (number, line))
        elif line == "COMMIT":
            table = None
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            table.chains.append(chain)
            table.rules[chain] = []
        elif line.startswith("-A "):
            chain = line.split(None, 2)[1]
            if '"' in chain or "\\" in chain:  # iptables-save prints chain names bare; be exact anyway
                chain = split_line(line)[1]
            table.rules.setdefault(chain, []).append(line)
        else:
            raise ValueError("line %d not understood: %r" % (number, line))
    return tables


# ---------------------------------------------------------------------------------------
# rendering (byte-identical to iptables-save of iptables 1.8, nft and legacy)

def render_snat(chain, cidr, mark, egress_ip, comment):
    return "-A %s -s %s -m mark --mark %s -m comment --comment %s -j SNAT --to-source %s" % (
        chain, cidr, mark, quote(comment), egress_ip)


def render_masquerade(chain, cidr, mark, comment):
    """Traffic of the mark that stays inside the cluster network is masqueraded, not SNATed to
    the egress IP (openshift-sdn 4.8+ puts this rule above the mark's SNAT rule)."""
    return "-A %s -s %s -d %s -m mark --mark %s -m comment --comment %s -j MASQUERADE" % (
        chain, cidr, cidr, mark, quote(comment))


def render_reject(chain, egress_ip, comment):
    return ("-A %s -d %s/%d -m conntrack --ctstate NEW -m comment --comment %s "
            "-j REJECT --reject-with icmp-port-unreachable" % (chain, egress_ip, MAX_PREFIX[VERSION], quote(comment)))


# ---------------------------------------------------------------------------------------
# placement and the restore payload

def _longest_increasing(values):
    """Indices (into values) of one longest strictly increasing subsequence."""
    tails, tail_idx, prev = [], [], [None] * len(values)
    for i, value in enumerate(values):
        pos = bisect.bisect_left(tails, value)
        if pos == len(tails):
            tails.append(value)
            tail_idx.append(i)
        else:
            tails[pos] = value
            tail_idx[pos] = i
        prev[i] = tail_idx[pos - 1] if pos else None
    out = []
    i = tail_idx[-1] if tail_idx else None
    while i is not None:
        out.append(i)
        i = prev[i]
    return out[::-1]


class ChainPlan:
    """Desired content of one chain and the -D/-I lines that turn the current content into it.

    ``current``: raw lines of the chain now. ``block``: our rendered rules, in their order,
    without duplicates. ``drop(rule)``: True for current rules to delete (never called for
    lines equal to a block line). ``anchor_target``: the block goes right above the first
    kept rule jumping there; without it (or without such a rule) the block ends the chain.
    ``inside(rule)``: True for a kept rule that may stay among the block's rules (our own
    rules that this run neither wants nor removes, e.g. with state=present); other kept
    rules never sit between block rules.

    Kept rules are never deleted; a block rule already in the right window and order stays,
    any other copy is deleted and the rule inserted at its place. Deletes run from the
    bottom up (numbers below are not shifted), inserts top down at their final position.
    """

    def __init__(self, chain, current, block, drop, anchor_target=None, inside=None):
        self.chain = chain
        self.before = list(current)
        self.block = block
        index = {}
        for i, line in enumerate(block):
            key = rule_key(line)
            if key in index:
                raise ValueError("duplicate rule in block: %r" % (line,))
            index[key] = i
        keys = [rule_key(line) for line in current]
        rules = [Rule(line) for line in current]  # parsed once, asked up to three questions
        stay = [i for i in range(len(current)) if keys[i] not in index and not drop(rules[i])]
        floating = set(i for i in stay if inside is not None and inside(rules[i]))
        anchor = None
        if anchor_target:
            anchor = next((i for i in stay if rules[i].target == anchor_target), None)
        high = len(current) if anchor is None else anchor
        low = max([i for i in stay if i < high and i not in floating] or [-1])
        window = [i for i in range(low + 1, high) if keys[i] in index]
        chosen = [window[w] for w in _longest_increasing([index[keys[i]] for i in window])]
        kept_block = dict((index[keys[i]], i) for i in chosen)
        retained = set(stay) | set(chosen)

        # the block's region: kept block rules and floating rules where they are, each missing
        # block rule right above the first kept block rule that follows it in block order
        missing = [b for b in range(len(block)) if b not in kept_block]
        region = []
        m = 0
        for i in sorted(set(chosen) | set(i for i in floating if low < i < high)):
            if i in chosen:
                b = index[keys[i]]
                while m < len(missing) and missing[m] < b:
                    region.append((None, missing[m]))
                    m += 1
            region.append((i, None))
        region.extend((None, b) for b in missing[m:])

        head = [current[i] for i in stay if i <= low]
        tail = [current[i] for i in stay if i >= high]
        self.after = head + [current[i] if i is not None else block[b] for i, b in region] + tail
        self.deleted = [current[i] for i in range(len(current)) if i not in retained]
        self.ops = ["-D %s %d" % (chain, i + 1) for i in sorted(set(range(len(current))) - retained, reverse=True)]
        prefix = "-A %s " % chain
        for position, (i, b) in enumerate(region):
            if i is None:
                self.ops.append("-I %s %d %s" % (chain, len(head) + position + 1, block[b][len(prefix):]))


def restore_payload(sections):
    """Lines of one ``iptables-restore --noflush`` input.

    ``sections``: [(table, [chains to create], [ChainPlan, ...])]; tables without any line
    are left out. Returns [] when there is nothing to do.
    """
    lines = []
    for table, create, plans in sections:
        body = [":%s - [0:0]" % chain for chain in create]
        for plan in plans:
            body.extend(plan.ops)
        if body:
            lines.append("*%s" % table)
            lines.extend(body)
            lines.append("COMMIT")
    return lines


# ---------------------------------------------------------------------------------------
# rules_text: the compact form of SNAT rules the planner writes and egress_snat reads


def snat_line(rule):
    """A rule {mark, egress_ip, name} as one ``rules_text`` line (parse_snat_text reads it); a
    rule without a name is ``MARK EGRESS_IP``."""
    if rule.get("name"):
        return "%s %s %s" % (rule["mark"], rule["egress_ip"], rule["name"])
    return "%s %s" % (rule["mark"], rule["egress_ip"])


def parse_snat_text(text):
    """[(line number, line, rule dict)] from ``rules_text`` (egress_snat); raise ValueError("line N: 'LINE': reason").

    One rule per line: MARK [EGRESS_IP [NAME]], blank-separated; the dict has the keys of a
    ``rules`` entry (mark, egress_ip, name), missing ones None. Lines are separated by
    newlines; blank lines and lines whose first non-blank character is # are skipped.
    """
    result = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) > 3:
            raise ValueError("line %d: %r: expected MARK EGRESS_IP [NAME], got %d words (a name has no blanks)"
                             % (number, line, len(words)))
        words += [None] * (3 - len(words))
        result.append((number, line, {"mark": words[0], "egress_ip": words[1], "name": words[2]}))
    return result


# ---------------------------------------------------------------------------------------
# running iptables-save / iptables-restore

BINARIES = {
    "auto": ("iptables-save", "iptables-restore"),
    "nft": ("iptables-nft-save", "iptables-nft-restore"),
    "legacy": ("iptables-legacy-save", "iptables-legacy-restore"),
}
RESTORE_WAIT = 30  # seconds iptables-restore waits for the xtables lock (legacy backend)


class Iptables:
    """``iptables-save`` and ``iptables-restore`` of one backend (``BINARIES``), a CmdRunner each,
    made on first use: reading needs no restore binary, and nothing here runs for a plan that
    needs no host (egress_snat ``state=rendered``). Failures raise runner.CommandError."""

    def __init__(self, module, backend="auto"):
        self.module = module
        self.save_name, self.restore_name = BINARIES[backend]
        self._save = self._restore = None

    def read(self, table):
        """The table as ``iptables-save -t TABLE`` prints it (a Table), or None when the backend
        has no such table; ValueError when the output cannot be parsed."""
        if self._save is None:
            self._save = CmdRunner(self.module, self.save_name, {"table": fmt.opt_val("-t")})
        result = self._save.run("table", table=table)
        try:
            tables = parse_save(result.out)
        except ValueError as exc:
            raise ValueError("cannot parse the output of %s -t %s: %s" % (self.save_name, table, exc))
        return tables.get(table)

    def restore(self, lines):
        """Apply payload lines (restore_payload) with ``iptables-restore --noflush --wait 30``."""
        if self._restore is None:
            self._restore = CmdRunner(self.module, self.restore_name, {
                "noflush": fmt.fixed("--noflush"),
                "wait": fmt.opt_val("--wait"),
            })
        self._restore.run("noflush wait", data="\n".join(lines), wait=RESTORE_WAIT)
