#!/usr/bin/env bash
# System packages Leadflow's tests and demo use: Java 17+ (runs the local Apache
# Kafka broker), Maven (fetches Kafka's jars), Prometheus and Alertmanager (rules,
# alerts, end-to-end tests). Idempotent; uses apt-get when something is missing.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${need[*]} and no apt-get here; install them yourself" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-system-deps: need root (or sudo) to install ${need[*]}" >&2
    exit 1
  fi
  sudo="sudo"
fi
mapfile -t packages < <(printf '%s\n' "${need[@]}" | sort -u)

apt_install() {
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
}

# Refresh the package lists only when needed: when they do not know a package
# (fresh CI images ship without lists), or when installing from them fails
# (stale lists pointing at removed versions).
stale=false
for package in "${packages[@]}"; do
  apt-cache show "$package" >/dev/null 2>&1 || stale=true
done
echo "install-system-deps: installing ${packages[*]}" >&2
if $stale || ! apt_install; then
  $sudo apt-get update -qq
  apt_install
fi
# Debian starts packaged daemons on install; Leadflow runs its own instances.
for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
    $sudo systemctl stop "$unit" || true
  fi
done
