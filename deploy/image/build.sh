#!/usr/bin/env bash
# `make image`: builds the static binary here and assembles deploy/Containerfile around it with
# podman or docker, whichever works (CONTAINER_RUNTIME chooses). Pulls no base image.
# Environment: IMAGE (profile-ingest:dev), VERSION, COMMIT, DATE (see ldflags.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
source "$here/lib.sh"
image=${IMAGE:-profile-ingest:dev}

rt=$(container_runtime) || { echo "image: no container runtime works here (podman or docker; see above)" >&2; exit 1; }
ctx=$repo/.cache/image
rm -rf "$ctx" && mkdir -p "$ctx"
ldflags=$("$here/ldflags.sh")
echo "image: go build ($ldflags)"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "$ldflags" -o "$ctx/profile-ingest" ./cmd/profile-ingest
cp "$here/config.yaml" "$here/passwd" "$ctx/"
x() { sed -n "s/.*buildinfo\.$1=\([^ ]*\).*/\1/p" <<<"$ldflags"; }
echo "image: $rt build -t $image"
"$rt" build -q -f deploy/Containerfile -t "$image" \
	--build-arg VERSION="$(x Version)" --build-arg COMMIT="$(x Commit)" --build-arg CREATED="$(x Date)" "$ctx"
"$rt" image ls "$image"
