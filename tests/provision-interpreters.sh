#!/usr/bin/env bash
# Provisions the interpreters the test suite runs on, cached outside the repo:
#   3.13t  CPython 3.13.5 built with --disable-gil  (free-threaded)
#   3.13   CPython 3.13.5 built with the default configure (GIL)
#   3.11   the machine's python3.11
# Each gets its own virtualenv with pytest and pytest-run-parallel.
#
# The CPython source is the upstream tarball inside Debian's `python3.13`
# source package of the stable suite, fetched with `apt-get source` through a
# private apt configuration whose deb-src entry reuses the mirror URI of the
# machine's own apt sources. Debian's patches are not applied: they adapt
# install paths to Debian's layout, which a private prefix does not want.
#
# Everything is reused when already present; the script is idempotent.
# Layout under $OXBIND_CACHE (default ~/.cache/oxbind):
#   cpython/3.13.5-ft/, cpython/3.13.5-gil/   the installed builds
#   venv/3.13t/, venv/3.13/, venv/3.11/       the virtualenvs
#   src/                                      the downloaded source package
#   apt/                                      the private apt state
set -euo pipefail

CACHE="${OXBIND_CACHE:-$HOME/.cache/oxbind}"
PYVER=3.13.5
JOBS="$(nproc)"
mkdir -p "$CACHE"/{cpython,venv,src,apt}

log() { printf '[provision] %s\n' "$*" >&2; }

# CPython's build needs these headers for ssl (pip), ctypes, sqlite3, lzma...
BUILD_DEPS=(build-essential dpkg-dev libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
            libsqlite3-dev libreadline-dev libncurses-dev uuid-dev)
APT_UPDATED=0
ensure_build_deps() {
    local missing=()
    for p in "${BUILD_DEPS[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    log "installing build dependencies: ${missing[*]}"
    [ "$APT_UPDATED" = 1 ] || { apt-get update -q >&2; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}

# --- the mirror, read from the machine's apt configuration ---------------
mirror_uri() {
    local uri=""
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        # The first URIs line whose suite list is not a security suite.
        uri="$(awk '
            /^URIs:/ { u=$2 }
            /^Suites:/ { if ($0 !~ /security/ && u != "" && !done) { print u; done=1 } }
            /^$/ { u="" }' "$f")"
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
    fi
    [ -n "$uri" ] || { log "no apt mirror found in /etc/apt"; exit 1; }
    printf '%s\n' "$uri"
}

fetch_source() {
    local tarball
    tarball="$(ls "$CACHE"/src/python3.13_${PYVER}*.orig.tar.* 2>/dev/null | head -1 || true)"
    if [ -n "$tarball" ]; then printf '%s\n' "$tarball"; return; fi
    command -v apt-get >/dev/null || { log "apt-get is required"; exit 1; }
    local uri keyring
    uri="$(mirror_uri)"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    log "deb-src from $uri (suite: stable)"
    local A="$CACHE/apt"
    mkdir -p "$A"/lists/partial "$A"/cache/archives/partial "$A"/etc/preferences.d
    cat >"$A/etc/sources.list" <<SRC
deb-src [signed-by=$keyring] $uri stable main
SRC
    local opts=(-o "Dir::Etc::sourcelist=$A/etc/sources.list" -o "Dir::Etc::sourceparts=-"
                -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache"
                -o "Dir::Etc::preferencesparts=$A/etc/preferences.d"
                -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -q)
    apt-get "${opts[@]}" update >&2
    (cd "$CACHE/src" && apt-get "${opts[@]}" source --download-only python3.13 >&2)
    tarball="$(ls "$CACHE"/src/python3.13_${PYVER}*.orig.tar.* 2>/dev/null | head -1 || true)"
    [ -n "$tarball" ] || { log "Debian's stable python3.13 is not $PYVER"; ls "$CACHE/src" >&2; exit 1; }
    printf '%s\n' "$tarball"
}

build_cpython() {  # $1 = ft|gil
    local flavour="$1" prefix="$CACHE/cpython/$PYVER-$1"
    if [ -x "$prefix/bin/python3.13" ] && "$prefix/bin/python3.13" -c 'import ssl, ctypes, sqlite3' 2>/dev/null; then
        log "cpython $PYVER-$flavour: cached"; return
    fi
    ensure_build_deps
    local tarball work
    tarball="$(fetch_source)"
    work="$(mktemp -d "$CACHE/build-$flavour.XXXX")"
    log "building cpython $PYVER-$flavour in $work"
    tar -xf "$tarball" -C "$work"
    local srcdir; srcdir="$(ls -d "$work"/Python-* | head -1)"
    local extra=()
    [ "$flavour" = ft ] && extra+=(--disable-gil)
    (cd "$srcdir" && ./configure --prefix="$prefix" --with-ensurepip=install "${extra[@]}" >"$work/configure.log" 2>&1 \
        && make -j"$JOBS" >"$work/make.log" 2>&1 && make install >"$work/install.log" 2>&1) \
        || { log "build failed; logs in $work"; tail -30 "$work"/*.log >&2; exit 1; }
    rm -rf "$work"
    log "cpython $PYVER-$flavour: installed in $prefix"
}

make_venv() {  # $1 = name, $2 = interpreter
    local venv="$CACHE/venv/$1"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pytest, pytest_run_parallel' 2>/dev/null; then
        log "venv $1: cached"; return
    fi
    rm -rf "$venv"
    "$2" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-run-parallel >&2
    log "venv $1: ready"
}

want="${1:-all}"
if [ "$want" = all ] || [ "$want" = 3.13t ]; then build_cpython ft;  make_venv 3.13t "$CACHE/cpython/$PYVER-ft/bin/python3.13t"; fi
if [ "$want" = all ] || [ "$want" = 3.13 ];  then build_cpython gil; make_venv 3.13  "$CACHE/cpython/$PYVER-gil/bin/python3.13"; fi
if [ "$want" = all ] || [ "$want" = 3.11 ];  then
    py311="$(command -v python3.11 || true)"
    [ -n "$py311" ] || { log "python3.11 is not on PATH"; exit 1; }
    make_venv 3.11 "$py311"
fi
