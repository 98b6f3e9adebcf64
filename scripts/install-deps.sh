#!/usr/bin/env bash
# Installs the Debian packages the tests and the benchmarks use: the real
# sqlite3 CLI, which tests drive against ledgerd's file; hledger, which
# checks ledgerd's exported journal; ledger (ledger-cli) and GNU time, which
# `make bench` runs side by side with ledgerd's reconciler; Chromium, which
# renders the admin status page headless; and systemd, for systemd-analyze
# verify/security on deploy/ledgerd.service (offline: no systemd needs to
# run); and prometheus for its promtool, which checks and unit-tests the
# alert rules in deploy/prometheus/ (the daemon itself is not started:
# --no-install-recommends and no systemd in the test machines). Go modules
# come through go.mod.
set -euo pipefail

need=()
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v hledger >/dev/null 2>&1 || need+=(hledger)
command -v ledger >/dev/null 2>&1 || need+=(ledger)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
