"""Make `ansible_collections.sdn.egress` importable: from the checkout (its .cache/collections,
see scripts/bootstrap.sh), or from an installed collection (.../ansible_collections/sdn/egress,
the tarball's tests run where it was installed)."""
import importlib.util
import os
import sys

import pytest

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


def _load_bench_script(name):
    """bench/<name>.py loaded from its path (the bench scripts are scripts, not part of the collection)."""
    spec = importlib.util.spec_from_file_location("sdn_egress_bench_" + name,
                                                  os.path.join(COLLECTION, "bench", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_script():
    """A loader: bench_script("run") is bench/run.py as a module."""
    return _load_bench_script
