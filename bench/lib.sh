# Shared set-up for the benchmark scripts: berth built, a busybox rootfs, podman
# (runc) and a private dockerd with their own state, and a cleanup that removes
# everything the peers leave on the host (bridges, iptables chains).
# Source it; it defines $berth, $work, P=(podman …), D=(docker …) and bench_cleanup.

export DEBIAN_FRONTEND=noninteractive
need=(hyperfine podman docker.io runc busybox-static iptables)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || { apt-get update -qq; apt-get install -y -qq "${missing[@]}" >/dev/null; }
cargo build --release -q
berth=${CARGO_TARGET_DIR:-$PWD/target}/$(rustc -vV | sed -n 's/^host: //p')/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
# berth's run-time state where a real install keeps it, on tmpfs (/run): on this
# VM's ext4 (mounted with discard) every file the runtime rewrites or deletes
# there waited for a synchronous discard, which no real install pays. Some of
# these VMs have /run on that ext4 too: there the bench mounts a tmpfs of its own.
runwork=$(mktemp -d /run/berth-bench.XXXXXX)
runwork_mounted=""
if [ "$(stat -f -c %T /run)" != tmpfs ]; then
  mount -t tmpfs -o mode=0700,size=1g berth-bench "$runwork" && runwork_mounted=1
fi
dockerd_pid=""
nft list tables > "$work/tables.before" 2>/dev/null || true
# Paths dockerd and podman make whatever their flags (dockerd's trust key and plugin
# directory, containerd's shim sockets, netavark's and runc's run directories):
# removed by bench_cleanup when they were not there before and are empty.
host_paths=(/etc/docker/key.json /run/docker/plugins /run/docker /run/containerd/s /run/containerd
            /run/containers/networks /run/containers /run/runc)
new_host_paths=(); for p in "${host_paths[@]}"; do [ -e "$p" ] || new_host_paths+=("$p"); done

bench_cleanup() {
  set +e
  # berth's last monitor removes its idle bridge 2 s after the last container;
  # let it finish before its state goes.
  for _ in $(seq 50); do pgrep -f "berth monitor" >/dev/null || break; sleep 0.1; done
  if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null; fi
  "${P[@]}" rm -af >/dev/null 2>&1; "${P[@]}" rmi -af >/dev/null 2>&1
  ip link del docker0 2>/dev/null; ip link del podman0 2>/dev/null
  # docker and podman (netavark) leave firewall chains behind; berth uses only its own table.
  for t in filter nat; do
    for c in $(iptables -t $t -S 2>/dev/null | awk '/^-N (DOCKER|NETAVARK)/ {print $2}'); do
      iptables -t $t -S | grep -- "-j $c" | sed 's/^-A/-D/' | while read -r rule; do eval iptables -t $t "$rule"; done
      iptables -t $t -F "$c"; iptables -t $t -X "$c"
    done
  done
  # iptables-nft leaves the (now empty) tables it created; drop those that were not there.
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qx "table $fam $name" "$work/tables.before" || nft delete table "$fam" "$name"
  done
  umount -R "$work"/podman/overlay 2>/dev/null
  [ -z "$runwork_mounted" ] || umount "$runwork" || umount -l "$runwork"
  rm -rf "$work" "$runwork"
  for p in "${new_host_paths[@]}"; do
    if [ -d "$p" ]; then rmdir "$p" 2>/dev/null; else rm -f "$p"; fi
  done
}

bench_rootfs() {
  mkdir -p "$work/bundle/rootfs"/{bin,etc,tmp,root,proc,sys,dev}
  cp /bin/busybox "$work/bundle/rootfs/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/bundle/rootfs/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/bundle/rootfs/etc/passwd"
  tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
}

bench_engines() {  # $1 = rootfs tarball, $2 = CMD change or "", $3.. = extra dockerd flags
  local tar=$1 change=$2; shift 2
  export BERTH_ROOT=$work/berth BERTH_RUNROOT=$runwork/berth
  if [ -n "$change" ]; then "$berth" import --change "$change" "$tar" bench/img >/dev/null
  else "$berth" import "$tar" bench/img >/dev/null; fi
  mkdir -p "$work/containers"; printf '[engine]\nruntime = "runc"\n' > "$work/containers/containers.conf"
  export CONTAINERS_CONF=$work/containers/containers.conf
  P=(podman --root "$work/podman" --runroot "$work/podman-run")
  if [ -n "$change" ]; then "${P[@]}" import --change "$change" "$tar" bench/img >/dev/null
  else "${P[@]}" import "$tar" bench/img >/dev/null; fi
  dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
    --pidfile "$work/docker.pid" --exec-opt native.cgroupdriver=cgroupfs "$@" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  D=(docker -H "unix://$work/docker.sock")
  for _ in $(seq 100); do "${D[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
  if [ -n "$change" ]; then "${D[@]}" import --change "$change" "$tar" bench/img >/dev/null
  else "${D[@]}" import "$tar" bench/img >/dev/null; fi
  sleep 5  # let a freshly started dockerd/containerd settle before anything is timed
}

# Replaces the section titled $1 in docs/benchmarks.md with the contents of file $2.
bench_record() {
  python3 - "$1" "$2" <<'PY'
import sys, os
title, text = sys.argv[1], open(sys.argv[2]).read()
path = "docs/benchmarks.md"
old = open(path).read() if os.path.exists(path) else "# Benchmarks\n\nFigures from the scripts in `bench/`, newest run of each.\n"
start = old.find("## " + title)
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(path, "w").write(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
PY
}
