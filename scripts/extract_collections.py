"""Extract named collections from an `ansible` community-package wheel.

usage: extract_collections.py WHEEL DEST ns/name [ns/name ...]
"""
import os
import sys
import zipfile


def main(argv):
    wheel, dest, wanted = argv[1], argv[2], argv[3:]
    prefixes = tuple("ansible_collections/%s/" % w for w in wanted)
    with zipfile.ZipFile(wheel) as z:
        members = [n for n in z.namelist() if n.startswith(prefixes)]
        found = {"/".join(n.split("/")[1:3]) for n in members}
        lost = sorted(set(wanted) - found)
        if lost:
            sys.exit("collections not in %s: %s" % (os.path.basename(wheel), ", ".join(lost)))
        for name in members:
            z.extract(name, dest)
    print("extracted %s into %s" % (", ".join(wanted), dest))


if __name__ == "__main__":
    main(sys.argv)
