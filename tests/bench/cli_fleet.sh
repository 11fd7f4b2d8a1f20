#!/usr/bin/env bash
# The fleet with the official CLI, the way a shell loop does it (tests/bench/fleet.py, tool "cli"). Per
# name: look for the service (`postgres list --filter name=NAME`), create it when it is missing (the
# answer, which holds the password, into DIR/NAME.json, mode 0600); then wait until each created one
# runs (`postgres get ID` every 5 s, at most 60 times). Nothing paces or retries the calls (the CLI
# does not retry a 429 itself): a failed list or create fails its name and the loop goes on.
#   tests/bench/cli_fleet.sh NAMES_FILE CREDENTIALS_DIR
# Environment: CLICKHOUSECTL (the binary), CHC_CLI_URL (the API, without /v1), CLICKHOUSE_ORG_ID,
# CLICKHOUSE_CLOUD_API_KEY, CLICKHOUSE_CLOUD_API_SECRET. Prints "FAILED NAME: why" per failed name and
# "SUMMARY hosts=N failed=F created=C" at the end; exits 1 when a name failed.
set -u
names_file=$1
dir=$2

ctl() { "$CLICKHOUSECTL" cloud --url "$CHC_CLI_URL" --json --org-id "$CLICKHOUSE_ORG_ID" postgres "$@"; }

mkdir -p "$dir" && chmod 700 "$dir"
umask 077
declare -A created=()
hosts=0
failed=0
while read -r name; do
  [ -n "$name" ] || continue
  hosts=$((hosts + 1))
  if ! found=$(ctl list --filter "name=$name" 2>&1); then
    echo "FAILED $name: list: $(tr -d '\n' <<<"$found")"
    failed=$((failed + 1))
    continue
  fi
  [ "$(jq length <<<"$found")" -eq 0 ] || continue
  if ! ctl create --name "$name" --region us-east-1 --size r8gd.large --pg-version 18 --tag env=bench --tag managed_by=clickhousectl \
      >"$dir/$name.json" 2>"$dir/$name.err"; then
    echo "FAILED $name: create: $(tr -d '\n' <"$dir/$name.err")"
    rm -f "$dir/$name.json"
    failed=$((failed + 1))
    continue
  fi
  created[$name]=$(jq -r .id "$dir/$name.json")
done <"$names_file"

for name in "${!created[@]}"; do
  running=
  for _ in $(seq 60); do
    if [ "$(ctl get "${created[$name]}" 2>/dev/null | jq -r .state)" = running ]; then
      running=1
      break
    fi
    sleep 5
  done
  if [ -z "$running" ]; then
    echo "FAILED $name: not running after 60 tries"
    failed=$((failed + 1))
  fi
done

echo "SUMMARY hosts=$hosts failed=$failed created=${#created[@]}"
[ "$failed" -eq 0 ]
