#!/bin/sh
# runtime-packages.sh EXE...: prints, one a line, the Debian packages that
# hold the shared libraries the given executables load (per ldd). The
# Dockerfile's builder stage runs it so that the runtime stage installs
# exactly those packages (libgrpc29, libmariadb3, ...) and no -dev package,
# whichever Debian release BASE_IMAGE is. It fails when a library belongs to
# no package (it would be missing at run time).
set -eu

# dpkg records a file under the path its package ships it at; with a merged
# /usr, ldd may report the other spelling (/lib/... vs /usr/lib/...), so
# each library is looked up under all of them.
owner() {
    for p in "$1" "$(readlink -f "$1")"; do
        for q in "$p" "/usr$p" "${p#/usr}"; do
            pkg=$(dpkg-query -S "$q" 2>/dev/null | grep -v '^diversion' | head -n 1 | cut -d: -f1)
            if [ -n "$pkg" ]; then
                echo "$pkg"
                return 0
            fi
        done
    done
    echo "runtime-packages.sh: no package holds $1" >&2
    return 1
}

libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
[ -n "$libs" ] || { echo "runtime-packages.sh: ldd found no libraries in $*" >&2; exit 1; }
pkgs=""
for lib in $libs; do
    pkgs="$pkgs $(owner "$lib")" # set -e: a library without a package stops here
done
printf '%s\n' $pkgs | sort -u
