# tests/integration/deb_cache.sh - Debian packages a test runs from their .debs without
# installing them (sourced, not run): Sendmail (installing it would remove Postfix), fail2ban
# (installing it starts a daemon that bans addresses).
#
# deb_extract CACHE DEST LOG PKG...: each PKG's .deb, fetched once with `apt-get download`
# into CACHE (under a lock: runs in parallel share it; a failed download leaves no partial
# .deb) and reused by later runs, is extracted into DEST (the newest version, should several
# have accumulated). Returns 1 when the .debs cannot be downloaded (apt-get's words in LOG).
deb_extract() {
    local cache=$1 dest=$2 log=$3
    shift 3
    local p deb tmp
    mkdir -p "$cache" "$dest"
    exec 9>"$cache/.lock"
    flock 9
    local missing=()
    for p in "$@"; do
        compgen -G "$cache/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        tmp=$cache/.download.$$
        mkdir -p "$tmp"
        # apt-get download runs as _apt when it can write there: no "unsandboxed" warning.
        chown _apt "$tmp" 2>/dev/null || true
        if (cd "$tmp" && apt-get download -q "${missing[@]}") >"$log" 2>&1 ||
            { apt-get update -q >>"$log" 2>&1 &&
                (cd "$tmp" && apt-get download -q "${missing[@]}") >>"$log" 2>&1; }; then
            mv "$tmp"/*.deb "$cache/"
            rm -rf "${tmp:?}"
        else
            rm -rf "${tmp:?}"
            exec 9>&-
            return 1
        fi
    fi
    exec 9>&-  # unlocks; daemons started later must not inherit it
    for p in "$@"; do
        deb=$(ls -1 "$cache/${p}"_*.deb | sort -V | tail -n 1)
        dpkg-deb -x "$deb" "$dest"
    done
}
