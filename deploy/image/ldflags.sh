#!/usr/bin/env bash
# Prints the -ldflags that name this build (internal/buildinfo): VERSION (default: the latest
# v* tag, else 0.1.0-dev), COMMIT (default: git HEAD, "-dirty" when the tree has changes) and
# DATE (default: HEAD's commit time in UTC, so a rebuild of one commit says the same).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if git rev-parse HEAD >/dev/null 2>&1; then
	: "${VERSION:=$(git describe --tags --match 'v*' 2>/dev/null || echo 0.1.0-dev)}"
	if [[ -z ${COMMIT:-} ]]; then
		COMMIT=$(git rev-parse HEAD)
		[[ -z $(git status --porcelain --untracked-files=no) ]] || COMMIT+=-dirty
	fi
	: "${DATE:=$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd)}"
fi
pkg=github.com/profile-ingest/profile-ingest/internal/buildinfo
echo "-s -w -X $pkg.Version=${VERSION:-0.1.0-dev} -X $pkg.Commit=${COMMIT:-unknown} -X $pkg.Date=${DATE:-unknown}"
