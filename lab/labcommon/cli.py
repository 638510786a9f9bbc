"""The subcommands lab/lab.py and lab/ovnlab.py share: down, status [--json], node-down NODE,
node-up NODE, over a lab's cluster module (down(), status(), node_down(), node_up())."""
import json


def add_common(sub, node_names, lab_name):
    """Add the shared subcommands to the argparse subparsers `sub`."""
    sub.add_parser("down", help="tear the %s down" % lab_name)
    p = sub.add_parser("status", help="show the %s's state" % lab_name)
    p.add_argument("--json", action="store_true")
    for name in ("node-down", "node-up"):
        p = sub.add_parser(name, help="simulate a node failure" if name == "node-down" else "simulate its recovery")
        p.add_argument("node", choices=node_names)


def run_common(args, cluster, status_lines):
    """The exit code of a shared subcommand, None for any other. status_lines(st) gives the
    lab's own lines of the text status between the health line and the echo server's."""
    if args.cmd == "down":
        cluster.down()
        return 0
    if args.cmd == "status":
        st = cluster.status()
        if args.json:
            print(json.dumps(st, indent=1))
        else:
            print("healthy: %s%s" % (st["healthy"], "" if st["healthy"] else " (%s)" % "; ".join(st["problems"])))
            for line in status_lines(st):
                print(line)
            print("echo server: %s" % (st["echo_server"] or "not running"))
        return 0 if st["healthy"] else 1
    if args.cmd == "node-down":
        cluster.node_down(args.node)
        return 0
    if args.cmd == "node-up":
        cluster.node_up(args.node)
        return 0
    return None
