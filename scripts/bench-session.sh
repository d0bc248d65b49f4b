# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-ceilings.sh, bench-cpu-account.sh)
# after ../shared/bench/lib.sh, which sets NB_NICE.
#
# With sched_autogroup (most desktops and this machine) a process's nice
# value only weighs against its own session's processes, so lib.sh's nice
# -10 does not make other sessions' builds yield. As root, nb_own_session
# re-runs the script (its path and arguments given) in a session of its own
# whose autogroup has that nice value (NATSBENCH_NICE=0: don't).
nb_own_session() {
  local script=$1
  shift
  if [ "${NB_OWN_SESSION:-}" != 1 ] && [ "$NB_NICE" != 0 ] && [ "$(id -u)" = 0 ] &&
    [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
    NB_OWN_SESSION=1 exec setsid -w "$script" "$@"
  fi
  if [ "${NB_OWN_SESSION:-}" = 1 ]; then echo "$NB_NICE" >/proc/self/autogroup || true; fi
}
