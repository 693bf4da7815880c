#!/usr/bin/env bash
# Provisions the interpreters the test suite runs on, cached outside the repo.
#
#   tag     interpreter                         source package   suites tried, in order
#   3.15t   CPython 3.15.x, --disable-gil       python3.15       unstable experimental testing
#   3.15    CPython 3.15.x, with the GIL        python3.15       unstable experimental testing
#   3.14t   CPython 3.14.x, --disable-gil       python3.14       unstable experimental testing
#   3.14    CPython 3.14.x, with the GIL        python3.14       unstable experimental testing
#   3.13t   CPython 3.13.x, --disable-gil       python3.13       stable unstable experimental
#   3.13    CPython 3.13.x, with the GIL        python3.13       stable unstable experimental
#   3.11    the machine's python3.11
#
# Usage: provision-interpreters.sh [all | matrix | TAG...]
#   all     every tag above; matrix (the default): the tags `cargo xtask test`
#   runs (see MATRIX below).
# Each tag gets its own virtualenv with pytest and pytest-run-parallel.
#
# The CPython source is the upstream tarball inside Debian's source package,
# fetched with `apt-get source` through a private apt configuration whose
# deb-src entries reuse the mirror URI of the machine's own apt sources. The
# first suite in the tag's list that serves the package wins, and the patch
# version is whatever that suite serves today: nothing pins one, so a fresh
# machine never asks for a version Debian has replaced. Debian's patches are
# not applied: they adapt install paths to Debian's layout, which a private
# prefix does not want.
#
# Everything is reused when already present, without asking apt anything: a
# second run does nothing. Layout under $OXBIND_CACHE (default ~/.cache/oxbind):
#   cpython/<X.Y.Z>-ft/, cpython/<X.Y.Z>-gil/  the installed builds; each holds
#       oxbind-source, "<package> <Debian version> <suite>", the record of
#       where it came from
#   venv/<tag>/                                the virtualenvs
#   src/                                       the downloaded source packages
#   apt/                                       the private apt state
set -euo pipefail

CACHE="${OXBIND_CACHE:-$HOME/.cache/oxbind}"
JOBS="$(nproc)"
mkdir -p "$CACHE"/{cpython,venv,src,apt}

log() { printf '[provision] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The matrix `cargo xtask test` runs. 3.15t, 3.14t and 3.14 join it once
# their sources can be fetched: today the mirror lists python3.14 and
# python3.15 in its indices but serves none of their files (issue 15).
MATRIX=(3.13t 3.13 3.11)
ALL=(3.15t 3.15 3.14t 3.14 3.13t 3.13 3.11)

suites_for() {  # $1 = minor (3.13, 3.14, 3.15)
    case "$1" in
        3.13) echo "stable unstable experimental" ;;
        3.14|3.15) echo "unstable experimental testing" ;;
        *) die "no Debian source for CPython $1" ;;
    esac
}

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
    [ -n "$uri" ] || die "no apt mirror found in /etc/apt"
    printf '%s\n' "$uri"
}

# The private apt configuration: deb-src entries for every suite any tag
# tries, updated once per run, and only when a build needs a source.
APT_OPTS=()
private_apt() {
    command -v apt-get >/dev/null || die "apt-get is required"
    local uri keyring A="$CACHE/apt"
    uri="$(mirror_uri)"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mkdir -p "$A"/lists/partial "$A"/cache/archives/partial "$A"/etc/preferences.d "$A"/empty
    : >"$A/etc/sources.list"
    for s in stable testing unstable experimental; do
        echo "deb-src [signed-by=$keyring] $uri $s main" >>"$A/etc/sources.list"
    done
    APT_OPTS=(-o "Dir::Etc::sourcelist=$A/etc/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache"
              -o "Dir::Etc::preferencesparts=$A/etc/preferences.d"
              -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -q)
    # Builds run in subshells; a marker named after this run's process id
    # keeps the update to one per run.
    local mark="$A/updated-by-$$"
    [ -e "$mark" ] && return
    log "deb-src from $uri (suites: stable testing unstable experimental)"
    apt-get "${APT_OPTS[@]}" update >&2
    rm -f "$A"/updated-by-*
    : >"$mark"
}

# Prints "<tarball> <Debian version> <suite>" for the first suite in the
# minor's list whose python<minor> source can be had, downloading it if
# needed. Only the upstream tarball is fetched (apt-helper checks it against
# the SHA256 the signed index gives); the Debian packaging is not used.
fetch_source() {  # $1 = minor
    local minor="$1" pkg="python$1" suite uris line uri file hash version upstream tarball
    local tried=()
    private_apt
    for suite in $(suites_for "$minor"); do
        # Run where no source file lies: apt leaves files already present
        # in the working directory out of the listing.
        uris="$(cd "$CACHE/apt/empty" && apt-get "${APT_OPTS[@]}" --print-uris source "$pkg/$suite" 2>/dev/null || true)"
        line="$(grep -E "^'[^']*/${pkg}_[^' ]*\.orig\.tar\.[a-z0-9]+' " <<<"$uris" | head -1 || true)"
        if [ -z "$line" ]; then
            tried+=("$suite (not listed)")
            continue
        fi
        # The second field of each line is the file name, unescaped.
        version="$(grep -oE " ${pkg}_[^ ]*\.dsc " <<<"$uris" | head -1 | tr -d ' ')"
        version="${version#${pkg}_}"; version="${version%.dsc}"
        upstream="${version%-*}"
        read -r uri file _ hash <<<"$line"
        uri="${uri//\'/}"
        tarball="$CACHE/src/$file"
        if [ ! -s "$tarball" ]; then
            log "downloading $file (Debian $suite, $pkg $version)"
            if ! /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$uri" "$tarball.part" "$hash" >&2; then
                rm -f "$tarball.part"
                tried+=("$suite (lists $version, but the mirror did not serve $file)")
                continue
            fi
            mv "$tarball.part" "$tarball"
        fi
        printf '%s %s %s\n' "$tarball" "$version" "$suite"
        return
    done
    die "no Debian suite serves the source package $pkg; tried: $(IFS=';'; echo "${tried[*]}")"
}

# The cached build of python<minor> in flavour ft|gil, if one works: prints
# its prefix.
cached_build() {  # $1 = minor, $2 = ft|gil
    local minor="$1" flavour="$2" exe prefix
    exe="python$minor"; [ "$flavour" = ft ] && exe="${exe}t"
    for prefix in "$CACHE"/cpython/"$minor".*-"$flavour"; do
        [ -x "$prefix/bin/$exe" ] || continue
        "$prefix/bin/$exe" -c 'import ssl, ctypes, sqlite3' 2>/dev/null || continue
        printf '%s\n' "$prefix"
        return
    done
}

# Builds python<minor> in flavour ft|gil unless cached; prints the executable.
build_cpython() {  # $1 = minor, $2 = ft|gil
    local minor="$1" flavour="$2" exe prefix
    exe="python$minor"; [ "$flavour" = ft ] && exe="${exe}t"
    prefix="$(cached_build "$minor" "$flavour")"
    if [ -n "$prefix" ]; then
        log "cpython $(basename "$prefix"): cached ($(cat "$prefix/oxbind-source" 2>/dev/null || echo 'source not recorded'))"
        printf '%s\n' "$prefix/bin/$exe"
        return
    fi
    ensure_build_deps
    local fetched tarball version suite
    fetched="$(fetch_source "$minor")" || exit 1
    read -r tarball version suite <<<"$fetched"
    local upstream="${version%-*}"
    prefix="$CACHE/cpython/$upstream-$flavour"
    local work; work="$(mktemp -d "$CACHE/build-$minor-$flavour.XXXX")"
    log "building cpython $upstream-$flavour (Debian $suite $version) in $work"
    local started=$SECONDS
    tar -xf "$tarball" -C "$work"
    local srcdir; srcdir="$(ls -d "$work"/Python-* | head -1)"
    local extra=()
    [ "$flavour" = ft ] && extra+=(--disable-gil)
    rm -rf "$prefix"
    (cd "$srcdir" && ./configure --prefix="$prefix" --with-ensurepip=install "${extra[@]}" >"$work/configure.log" 2>&1 \
        && make -j"$JOBS" >"$work/make.log" 2>&1 && make install >"$work/install.log" 2>&1) \
        || { log "build failed; logs in $work"; tail -30 "$work"/*.log >&2; exit 1; }
    echo "python$minor $version $suite" >"$prefix/oxbind-source"
    rm -rf "$work"
    log "cpython $upstream-$flavour (Debian $suite $version): installed in $prefix in $((SECONDS - started)) s"
    printf '%s\n' "$prefix/bin/$exe"
}

make_venv() {  # $1 = tag, $2 = interpreter
    local venv="$CACHE/venv/$1"
    if [ -x "$venv/bin/python" ] && [ "$(readlink -f "$venv/bin/python")" = "$(readlink -f "$2")" ] \
        && "$venv/bin/python" -c 'import pytest, pytest_run_parallel, numpy' 2>/dev/null; then
        log "venv $1: cached"; return
    fi
    rm -rf "$venv"
    "$2" -m venv "$venv"
    # NumPy for the buffer tests (tests/python/test_buffers.py).
    "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-run-parallel numpy >&2
    log "venv $1: ready ($("$venv/bin/python" -VV | head -1))"
}

provision_tag() {  # $1 = tag
    local tag="$1" exe
    case "$tag" in
        3.11)
            exe="$(command -v python3.11 || true)"
            [ -n "$exe" ] || die "python3.11 is not on PATH"
            # The interpreter itself, not a launcher (pyenv's shims are scripts).
            exe="$("$exe" -c 'import sys; print(sys.executable)')"
            ;;
        3.13t|3.14t|3.15t) exe="$(build_cpython "${tag%t}" ft)" || exit 1 ;;
        3.13|3.14|3.15)    exe="$(build_cpython "$tag" gil)" || exit 1 ;;
        *) die "unknown interpreter tag '$tag'; expected one of: ${ALL[*]}" ;;
    esac
    make_venv "$tag" "$exe"
}

tags=("$@")
[ ${#tags[@]} -gt 0 ] || tags=(matrix)
for t in "${tags[@]}"; do
    case "$t" in
        all) for x in "${ALL[@]}"; do provision_tag "$x"; done ;;
        matrix) for x in "${MATRIX[@]}"; do provision_tag "$x"; done ;;
        *) provision_tag "$t" ;;
    esac
done
