#!/bin/bash
# Build resource-agents-openstack (source + binary) from the current tree.
#
#   tests/setup/build-deb.sh [OUTDIR]      (or RAO_DEB_OUTDIR=...; default /tmp/ra-openstack-deb)
#
# The tracked and untracked-but-not-ignored files are copied to a scratch
# directory first, so the checkout never collects build debris. The build runs
# with a plain environment: a pyenv python3 on PATH must not leak into pybuild.
# DEB_BUILD_OPTIONS (e.g. nocheck) is passed through. Prints "build-deb: ..."
# progress lines; the last line of stdout is the path of the .deb.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=${1:-${RAO_DEB_OUTDIR:-/tmp/ra-openstack-deb}}
PKG=resource-agents-openstack

say() { echo "build-deb: $*"; }
die() { echo "build-deb: ERROR: $*" >&2; exit 1; }

for tool in dpkg-buildpackage dpkg-parsechangelog tar; do
    command -v "$tool" >/dev/null || die "$tool not found (run tests/setup/install-deps.sh)"
done
[ -f "$SRC/debian/control" ] || die "$SRC/debian/control not found"

VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
SCRATCH=$(mktemp -d /tmp/ra-openstack-build.XXXXXX)
# Unit tests run agents as nobody: the copied tree must be traversable (mktemp makes 0700).
chmod 0755 "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
BUILD_DIR="$SCRATCH/$PKG-$VERSION"
mkdir "$BUILD_DIR"

say "copying $SRC to $BUILD_DIR"
"$SRC/tests/setup/source-files.sh" "$SRC" >"$SCRATCH/files"
[ -s "$SCRATCH/files" ] || die "no files to copy from $SRC"
# tar keeps the modes (the agents and debian/rules must stay 0755).
tar -C "$SRC" --null --no-recursion -T "$SCRATCH/files" -cf - | tar -C "$BUILD_DIR" -xpf -

# Old artefacts of this package would make "the .deb" ambiguous.
rm -f "$OUTDIR/${PKG}_"* "$OUTDIR/build.log"

say "dpkg-buildpackage -us -uc (version $VERSION${DEB_BUILD_OPTIONS:+, DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS})"
start=$(date +%s)
LOG="$OUTDIR/build.log"
if ! (cd "$BUILD_DIR" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" \
        LANG=C.UTF-8 DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc) >"$LOG" 2>&1; then
    echo "build-deb: build FAILED after $(( $(date +%s) - start ))s; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
fi
say "built in $(( $(date +%s) - start ))s"

for f in "$SCRATCH/${PKG}_$VERSION"*; do
    cp -p "$f" "$OUTDIR/"
    say "  $OUTDIR/$(basename "$f")"
done
DEB="$OUTDIR/${PKG}_${VERSION}_all.deb"
[ -f "$DEB" ] || die "no $DEB after the build (see $LOG)"
echo "$DEB"
