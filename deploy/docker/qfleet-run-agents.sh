#!/bin/bash
# Runs one slice of a simulated fleet: QFLEET_AGENTS_PER_POD qfleet-agent
# processes in this container, each with its own device name and data shard,
# all with --exit-when-idle. Exits 0 when every agent exited 0 (the campaign
# ended), 1 otherwise. SIGTERM/SIGINT are passed on to the agents and make it
# exit 143, so an interrupted slice is not counted as a completed one.
#
# Slice k of P slices (k = JOB_COMPLETION_INDEX in a Kubernetes indexed Job,
# else QFLEET_FLEET_INDEX) runs fleet clients k*A .. k*A+A-1 of P*A:
#   name   ${QFLEET_NAME_PREFIX}-k-i          (stable across pod retries)
#   shard  iid:P*A:k*A+i:SEED, or dirichlet:ALPHA:P*A:k*A+i:SEED
#
# Environment:
#   QFLEET_COORDINATOR       HOST:PORT of the coordinator (required)
#   QFLEET_FLEET_PODS        P, slices in the whole fleet            (1)
#   QFLEET_AGENTS_PER_POD    A, agents in this slice                 (1)
#   JOB_COMPLETION_INDEX / QFLEET_FLEET_INDEX   k                    (0)
#   QFLEET_FLEET_SEED        partition seed                          (1)
#   QFLEET_SHARD_ALPHA       Dirichlet alpha; empty = IID shards     ()
#   QFLEET_NAME_PREFIX       device name prefix                      (fleet)
#   QFLEET_AGENT_THREADS     LibTorch threads per agent              (1)
#   QFLEET_JOIN_SECRET_FILE  file holding the enrollment secret (the
#                            coordinator's join secret or a join token);
#                            empty = none: enrollment then fails unless
#                            the coordinator runs --open-enrollment   ()
#   QFLEET_STATE_DIR         directory where agent NAME keeps its device
#                            token between runs (NAME.token, 0600); empty =
#                            none: a restarted agent cannot re-enroll its
#                            name without `qfleetctl devices reset`   ()
#   QFLEET_TLS_CA            CA of the coordinator's certificate     (/etc/qfleet/tls/ca.crt)
#   QFLEET_INSECURE=1        plaintext instead of TLS (tests only)
# Secrets travel as files only: nothing secret is put on a command line,
# where `ps` would show it. QFLEET_JOIN_SECRET (a secret in the environment)
# is no longer read; setting it is an error.
# Arguments are appended to every qfleet-agent command line.
set -euo pipefail

die() { echo "qfleet-run-agents: $*" >&2; exit 2; }
is_count() { [[ "$1" =~ ^[0-9]+$ ]]; }

coordinator="${QFLEET_COORDINATOR:-}"
pods="${QFLEET_FLEET_PODS:-1}"
per_pod="${QFLEET_AGENTS_PER_POD:-1}"
index="${JOB_COMPLETION_INDEX:-${QFLEET_FLEET_INDEX:-0}}"
seed="${QFLEET_FLEET_SEED:-1}"
alpha="${QFLEET_SHARD_ALPHA:-}"
prefix="${QFLEET_NAME_PREFIX:-fleet}"
threads="${QFLEET_AGENT_THREADS:-1}"

[[ -n "$coordinator" ]] || die "QFLEET_COORDINATOR is not set"
if ! is_count "$pods" || (( pods < 1 )); then
  die "QFLEET_FLEET_PODS must be >= 1, got '$pods'"
fi
if ! is_count "$per_pod" || (( per_pod < 1 )); then
  die "QFLEET_AGENTS_PER_POD must be >= 1, got '$per_pod'"
fi
if ! is_count "$index" || (( index >= pods )); then
  die "slice index '$index' is outside [0, $pods)"
fi
total=$(( pods * per_pod ))

[[ -z "${QFLEET_JOIN_SECRET:-}" ]] ||
  die "QFLEET_JOIN_SECRET is no longer read: put the secret in a file and set" \
      "QFLEET_JOIN_SECRET_FILE to its path"
join=()
join_file="${QFLEET_JOIN_SECRET_FILE:-}"
if [[ -n "$join_file" ]]; then
  [[ -f "$join_file" && -r "$join_file" ]] ||
    die "QFLEET_JOIN_SECRET_FILE '$join_file' is not a readable file"
  join=(--join-secret-file "$join_file")
else
  echo "qfleet-run-agents: no QFLEET_JOIN_SECRET_FILE: the agents present no enrollment" \
    "secret" >&2
fi
state_dir="${QFLEET_STATE_DIR:-}"
if [[ -n "$state_dir" ]]; then
  [[ -d "$state_dir" && -w "$state_dir" ]] ||
    die "QFLEET_STATE_DIR '$state_dir' is not a writable directory"
fi

if [[ "${QFLEET_INSECURE:-0}" == 1 ]]; then
  tls=(--insecure)
else
  tls=(--tls-ca "${QFLEET_TLS_CA:-/etc/qfleet/tls/ca.crt}")
fi

pids=()
names=()
signals=0
# shellcheck disable=SC2317  # called by the trap
forward() {
  signals=$(( signals + 1 ))
  kill -TERM "${pids[@]}" 2>/dev/null || true
}
trap forward TERM INT

for (( i = 0; i < per_pod; i++ )); do
  client=$(( index * per_pod + i ))
  if [[ -n "$alpha" ]]; then
    shard="dirichlet:${alpha}:${total}:${client}:${seed}"
  else
    shard="iid:${total}:${client}:${seed}"
  fi
  name="${prefix}-${index}-${i}"
  state=()
  if [[ -n "$state_dir" ]]; then
    state=(--state-file "${state_dir}/${name}.token")
  fi
  qfleet-agent --coordinator "$coordinator" --name "$name" \
    --shard "$shard" --threads "$threads" "${join[@]}" "${state[@]}" \
    "${tls[@]}" --exit-when-idle "$@" &
  pids+=("$!")
  names+=("$name")
done
echo "qfleet-run-agents: slice ${index}/${pods}: ${per_pod} agents, clients" \
  "$(( index * per_pod ))..$(( index * per_pod + per_pod - 1 )) of ${total}" >&2

rc=0
for n in "${!pids[@]}"; do
  pid="${pids[$n]}"
  # A trapped signal makes `wait` return early with 128+signal; wait again
  # for the agent's own exit status (bash keeps it once the agent is gone).
  while true; do
    before="$signals"
    status=0
    wait "$pid" || status=$?
    (( signals == before )) && break
  done
  if (( status != 0 )); then
    echo "qfleet-run-agents: ${names[$n]} exited with status ${status}" >&2
    rc=1
  fi
done
if (( signals > 0 )); then exit 143; fi
exit "$rc"
