# lib.sh: shell helpers shared by cdtm's scripts. Source it; do not run it.
#   free_port          print a TCP port on 127.0.0.1 that nothing listens on
#   wait_until SECS CMD...   poll CMD every 0.1 s until it succeeds or SECS pass
#   port_open PORT     true when something accepts connections on 127.0.0.1:PORT

CDTM_ROOT=${CDTM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CDTM_RUN=${CDTM_RUN:-$CDTM_ROOT/.run}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  # Below the kernel's ephemeral range, so that no outgoing connection can
  # take the port between this check and the server's bind.
  local lo p i
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || lo=32768
  [ "${lo:-0}" -gt 12000 ] 2>/dev/null || lo=32768
  for i in $(seq 200); do
    p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000) ))
    port_open "$p" || { echo "$p"; return 0; }
  done
  echo "free_port: no free port found" >&2
  return 1
}

wait_until() {
  local secs=$1; shift
  local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}
