"""Offline stand-in for the pip bootstrap script of ansible-test (see toolchain.md §2.2).

ansible-test creates each sanity/units venv without pip and bootstraps it by running
~/.ansible/test/cache/get_pip_<X_Y>.py, which it downloads from ci-files.testing.ansible.com
when absent. That host is unreachable here (ansible/ansible#77304). This file plays both parts:

* ``python tools/ansible_test_pip_shim.py --install``, run with a venv's python, copies this
  file into the cache under the name that venv's ansible-test asks for (pip 24.2 for
  ansible-core 2.19, 25.2 for 2.21).
* Run by ansible-test (through quiet_pip.py, env GET_PIP) with pip install arguments such as
  ``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``: it bootstraps pip from
  the stdlib's ensurepip, then installs the requested pins from the package index.
"""

import pathlib
import re
import subprocess
import sys

CACHE = pathlib.Path("~/.ansible/test/cache").expanduser()


def wanted_pip_version():
    """The pip version pinned by the ansible-test installed beside this interpreter."""
    import importlib.util

    spec = importlib.util.find_spec("ansible_test")
    if spec is None:
        sys.exit(f"ansible-test is not installed for {sys.executable}")
    source = pathlib.Path(spec.origin).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    if match is None:
        sys.exit(f"cannot find the pinned pip version in {source}")
    return match.group(1)


def install():
    target = CACHE / f"get_pip_{wanted_pip_version().replace('.', '_')}.py"
    content = pathlib.Path(__file__).read_bytes()
    if not target.exists() or target.read_bytes() != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        print(f"ansible-test pip shim installed: {target}")


def bootstrap(args):
    # get-pip.py options that pip install does not know
    args = [a for a in args if a not in ("--no-setuptools", "--no-wheel")]
    # ensurepip in a subprocess: in-process it sets PIP_CONFIG_FILE=/dev/null, which drops the
    # machine's pip configuration (CA bundle, local wheel dirs) for the install that follows.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        install()
    else:
        sys.exit(bootstrap(sys.argv[1:]))
