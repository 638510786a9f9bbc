"""Make `ansible_collections.sdn.egress` importable from the checkout (see scripts/bootstrap.sh)."""
import os
import sys

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cache", "collections")
if os.path.realpath(COLLECTIONS) not in [os.path.realpath(p) for p in sys.path]:
    sys.path.insert(0, os.path.realpath(COLLECTIONS))
