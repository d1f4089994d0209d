# Sourced by deploy/image/build.sh and test.sh: which container runtime works here.
# container_runtime prints podman or docker (the first whose engine answers), or nothing and
# the reasons on stderr. CONTAINER_RUNTIME=docker|podman chooses.
container_runtime() {
	local rt why=()
	for rt in ${CONTAINER_RUNTIME:-podman docker}; do
		if ! command -v "$rt" >/dev/null; then
			why+=("$rt: not installed")
		elif out=$("$rt" info 2>&1 >/dev/null); then
			echo "$rt"
			return 0
		else
			why+=("$rt: $(tail -n1 <<<"$out")")
		fi
	done
	printf '%s\n' "${why[@]}" >&2
	return 1
}

# run_flags: what `run` needs on this machine kind: runc rather than crun (podman).
run_flags() {
	if [[ $1 == podman ]] && command -v runc >/dev/null; then echo --runtime runc; fi
}
