#!/bin/bash
# The files of the source tree SRC, NUL-separated, as the build and the Debian 13 leg
# copy it: in a git checkout, what git tracks or would track (and still exists);
# elsewhere (an unpacked tarball), every file but build debris.
# Usage: source-files.sh SRC > LIST
set -eu
SRC=${1:?usage: source-files.sh SRC}
if command -v git >/dev/null && git -c safe.directory='*' -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    # safe.directory: the checkout may belong to another user than root.
    # -co also lists tracked files deleted in the work tree: keep existing ones.
    git -c safe.directory='*' -C "$SRC" ls-files -z -co --exclude-standard |
        while IFS= read -r -d "" f; do
            if [ -e "$SRC/$f" ] || [ -L "$SRC/$f" ]; then printf '%s\0' "$f"; fi
        done
else
    cd "$SRC" && find . \( -name .git -o -name __pycache__ -o -name .pytest_cache \
        -o -name '*.egg-info' -o -name .pybuild -o -path ./build -o -path ./dist \
        -o -path ./debian/.debhelper -o -path ./debian/resource-agents-openstack \) -prune \
        -o \( -type f -o -type l \) -print0
fi
