#!/usr/bin/env bash
# Installs moto's server mode (an AWS API endpoint on loopback; the tests use its SQS) from PyPI,
# at the version pinned in tools/moto/requirements.txt, into a virtualenv cached outside the
# repository, keyed by that file and this script, and prints the virtualenv's bin directory
# (holding moto_server). A warm cache returns at once. Needs python3 with venv and pip.
#
# Cache root: $PRISM_TOOLS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^moto\[server\]==\(.*\)$/\1/p' "$here/requirements.txt")"
[[ -n $version ]] || { echo "install.sh: no moto[server]==<version> in $here/requirements.txt" >&2; exit 1; }
key="$(cat "$here/requirements.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
root="${PRISM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator}/moto"
dir="$root/$version-$key"
if [[ -f "$dir/.build-seconds" && -x "$dir/venv/bin/moto_server" ]]; then
  echo "$dir/venv/bin"
  exit 0
fi
command -v python3 >/dev/null || { echo "install.sh: python3 is needed to install moto" >&2; exit 1; }
start=$(date +%s)
echo "installing moto $version into $dir (first install only)" >&2
# A virtualenv's scripts name its absolute path: it is built where it will live, and only counts
# as installed once .build-seconds is written (a half-done one is removed and built again).
rm -rf "$dir" && mkdir -p "$root"
python3 -m venv "$dir/venv" >&2
"$dir/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
"$dir/venv/bin/moto_server" --help >/dev/null
echo "$(( $(date +%s) - start ))" > "$dir/.build-seconds"
echo "installed moto $version in $(( $(date +%s) - start ))s" >&2
echo "$dir/venv/bin"
