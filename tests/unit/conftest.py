"""Make `ansible_collections.sdn.egress` importable: from the checkout (its .cache/collections,
see scripts/bootstrap.sh), or from an installed collection (.../ansible_collections/sdn/egress,
the tarball's tests run where it was installed)."""
import os
import sys

COLLECTION = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def collections_paths():
    """The collection roots holding this tree as ansible_collections.sdn.egress."""
    parts = COLLECTION.split(os.sep)
    if parts[-3:] == ["ansible_collections", "sdn", "egress"]:
        return [os.sep.join(parts[:-3]) or os.sep]
    return [os.path.join(COLLECTION, ".cache", "collections")]


for path in collections_paths():
    if os.path.realpath(path) not in [os.path.realpath(p) for p in sys.path]:
        sys.path.insert(0, os.path.realpath(path))
