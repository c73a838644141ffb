#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Go: installs what the
# tests run against (Debian's Alertmanager, nats-server, nix, git and etcd, a
# C compiler for SQLite), fetches the Go modules, checks vet and gofmt, and runs
# every test with -race. The first run also builds a kube-apiserver from
# k8s.io/kubernetes (internal/kubetest; a few minutes, cached after).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v nix >/dev/null || need+=(nix-bin)
command -v git >/dev/null || need+=(git)
command -v etcd >/dev/null || need+=(etcd-server)
if ((${#need[@]})); then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "installing: ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go mod download
go vet ./...
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "not gofmt-ed:" $unformatted
	exit 1
fi
# Nix offline: flakes on, no sandbox (tests run as root in CI), no binary caches.
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsandbox = false\nsubstituters ='
OPSBOT_REQUIRE_REAL=1 CGO_ENABLED=1 go test -race -count=1 -timeout 30m ./...
