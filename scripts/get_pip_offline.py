"""Stand-in for the pip bootstrap script ansible-test downloads from a host outside PyPI.

ansible-test runs this inside a fresh venv with get-pip.py's arguments (`pip==X`,
`--no-setuptools`, `--no-wheel`, pip options). We bootstrap pip from the interpreter's own
ensurepip, then install the requested pip version from the package index.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

saved = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null; the index and CA settings must apply again
os.environ.clear()
os.environ.update(saved)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q"] + args))
