#!/usr/bin/env bash
# Copies the runtime dependencies of a pom (nothing is built) from Maven Central into a
# directory, once: a directory with a .complete marker is left alone; a half-done download is
# redone. deploy/kafka/kafka.sh and deploy/cdc/cdc.sh fetch their jars with it.
#
#   deploy/mvnfetch.sh POM DEST WHAT     (WHAT names the download in messages)
#
# The mvn log is kept beside DEST as mvn.log.
set -euo pipefail
pom=$1 dest=$2 what=$3
[[ -f $dest/.complete ]] && exit 0
say() { printf '%s: %s\n' "$(basename "$(dirname "$pom")").sh" "$*" >&2; }
command -v mvn >/dev/null || { say "mvn not found: install Maven (apt-get install maven)"; exit 1; }
say "downloading $what from Maven Central into $dest (once)"
log=$(dirname "$dest")/mvn.log
rm -rf "$dest.partial"
mkdir -p "$(dirname "$dest")"
if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
	-DincludeScope=runtime -DoutputDirectory="$dest.partial" >"$log" 2>&1; then
	say "mvn could not fetch $what; last lines of $log:"
	tail -n 30 "$log" >&2
	exit 1
fi
touch "$dest.partial/.complete"
rm -rf "$dest"
mv "$dest.partial" "$dest"
