#!/usr/bin/env bash
# Times pull and push against Debian's docker-registry on loopback, berth beside
# podman (runc), docker and skopeo in the same run. Images: the testkit's Debian
# bookworm systemd rootfs as one layer, and the same files as a 5-layer image.
# Pull: into an empty store (berth: a new BERTH_ROOT; podman and docker: every image
# removed first). Push: each engine pushes the image it pulled into an empty registry
# (its storage wiped before each run). Also the floor: the big layer's gunzip to
# /dev/null, and its unpack to disk, each alone. Medians go to docs/benchmarks.md.
#   sudo bash bench/pull-push.sh            (RUNS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
tar=/var/cache/berth-testkit/debian-systemd.tar
[ -f "$tar" ] || cargo test -q -p berth --test systemd  # makes and caches the rootfs
for p in docker-registry skopeo; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p" >/dev/null; }
done
source bench/lib.sh
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
registry_pids=()
cleanup() {
  set +e
  for pid in "${registry_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null; done
  "${D[@]}" rmi -f $("${D[@]}" images -q) >/dev/null 2>&1
  bench_cleanup
}
trap cleanup EXIT

# A docker-registry on a free loopback port; storage in $work/NAME. No cache section:
# the registry reads its storage on every request, so wiping it empties the registry.
start_registry() {  # $1 = name; sets $reg_host
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/$1/data"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/$1/data" "$port" > "$work/$1/config.yml"
  docker-registry serve "$work/$1/config.yml" >"$work/$1/log" 2>&1 &
  registry_pids+=($!)
  reg_host=127.0.0.1:$port
  for _ in $(seq 100); do curl -sf "http://$reg_host/v2/" >/dev/null && return; sleep 0.1; done
  echo "registry $1 did not start" >&2; cat "$work/$1/log" >&2; exit 1
}

bench_rootfs
bench_engines "$work/rootfs.tar" "" --iptables=false --ip6tables=false --bridge=none
start_registry src; src=$reg_host
start_registry dst; dst=$reg_host

# The images, made by berth and pushed to the source registry. The 5-layer one holds
# the same files split by directory (ADD of each part's tar).
"$berth" import --change 'CMD ["/sbin/init"]' "$tar" bench/systemd:1 >/dev/null
"$berth" push -q bench/systemd:1 "$src/bench/systemd:1" >/dev/null
mkdir -p "$work/five/ctx/parts"
tar -C "$work/five/ctx/parts" -xf "$tar"
(
  cd "$work/five/ctx"
  parts=(usr/lib usr/share usr/bin:usr/sbin:usr/libexec var:usr/include:usr/local:usr/games:usr/src)
  i=0
  for set in "${parts[@]}"; do
    i=$((i + 1)); IFS=: read -ra dirs <<<"$set"
    have=(); for d in "${dirs[@]}"; do [ -e "parts/$d" ] && have+=("$d"); done
    tar -C parts --numeric-owner -cf "p$i.tar" "${have[@]}"; (cd parts && rm -rf "${have[@]}")
  done
  tar -C parts --numeric-owner -cf p5.tar .; rm -rf parts
  printf 'FROM scratch\nADD p1.tar /\nADD p2.tar /\nADD p3.tar /\nADD p4.tar /\nADD p5.tar /\nCMD ["/sbin/init"]\n' > Dockerfile
)
"$berth" build -q -t bench/five:1 "$work/five/ctx" >/dev/null
rm -rf "$work/five"
"$berth" push -q bench/five:1 "$src/bench/five:1" >/dev/null

# Sizes as the registry holds them.
manifest() { curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$src/v2/bench/$1/manifests/1"; }
layers_of() { manifest "$1" | python3 -c 'import json,sys; print(" ".join(str(round(l["size"]/1e6,1)) for l in json.load(sys.stdin)["layers"]))'; }
sizes_systemd=$(layers_of systemd); sizes_five=$(layers_of five)
big=$(manifest systemd | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"].split(":")[1])')
blob="$work/src/data/docker/registry/v2/blobs/sha256/${big:0:2}/$big/data"
unpacked_mb=$(( $(stat -c %s "$tar") / 1000000 ))

# The stores each engine pulls into, emptied before every timed pull.
BP=(env BERTH_ROOT="$work/bp" BERTH_RUNROOT="$work/bp-run" "$berth")
empty_podman="${P[*]} rmi -af >/dev/null 2>&1; true"
empty_docker="${D[*]} rmi -f \$(${D[*]} images -q) >/dev/null 2>&1; true"
pulls=()
for img in systemd five; do
  ref=$src/bench/$img:1
  pulls+=(--prepare "rm -rf $work/bp $work/bp-run" -n "berth pull $img" "${BP[*]} pull -q $ref"
          --prepare "$empty_podman" -n "podman pull $img" "${P[*]} pull -q --tls-verify=false $ref"
          --prepare "$empty_docker" -n "docker pull $img" "${D[*]} pull -q $ref")
done
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/pull.json" "${pulls[@]}"

# Every engine holds both images now (pulled), as its push starts from them.
for img in systemd five; do
  ref=$src/bench/$img:1
  "$berth" pull -q "$ref" >/dev/null
  "${P[@]}" pull -q --tls-verify=false "$ref" >/dev/null
  "${D[@]}" pull -q "$ref" >/dev/null; "${D[@]}" tag "$ref" "$dst/bench/$img-docker:1"
done
wipe_dst="rm -rf $work/dst/data/docker"
cs="containers-storage:[overlay@$work/podman+$work/podman-run]"
pushes=()
for img in systemd five; do
  ref=$src/bench/$img:1
  pushes+=(--prepare "$wipe_dst" -n "berth push $img" "$berth push -q $ref $dst/bench/$img-berth:1"
           --prepare "$wipe_dst" -n "podman push $img" "${P[*]} push -q --tls-verify=false $ref docker://$dst/bench/$img-podman:1"
           --prepare "$wipe_dst" -n "skopeo push $img" "skopeo copy -q --dest-tls-verify=false $cs$ref docker://$dst/bench/$img-skopeo:1"
           --prepare "$wipe_dst" -n "docker push $img" "${D[*]} push -q $dst/bench/$img-docker:1")
done
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/push.json" "${pushes[@]}"

# The floor: the big layer alone, no network, no hashing; and its bare upload.
# A monolithic upload of the blob: POST, then PUT with its digest. A script file:
# hyperfine runs commands with sh, which drops exported bash functions.
cat > "$work/upload.sh" <<EOF
loc=\$(curl -sf -X POST -D - -o /dev/null "http://$dst/v2/floor/blobs/uploads/" | tr -d '\r' | awk 'tolower(\$1)=="location:" {print \$2}')
case \$loc in http*) ;; *) loc="http://$dst\$loc" ;; esac
curl -sf -T "$blob" -H 'Content-Type: application/octet-stream' "\$loc&digest=sha256:$big" -o /dev/null
EOF
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/floor.json" \
  --prepare true -n "gunzip to /dev/null" "gzip -dc $blob" \
  --prepare "rm -rf $work/unpack; mkdir $work/unpack" -n "gunzip and untar to disk" "tar -xzf $blob -C $work/unpack" \
  --prepare "rm -rf $work/unpack; mkdir $work/unpack" -n "gunzip, untar and sync" "tar -xzf $blob -C $work/unpack && sync -f $work/unpack" \
  --prepare true -n "sha256 of the blob" "sha256sum $blob" \
  --prepare "$wipe_dst" -n "bare upload (curl)" "bash $work/upload.sh"
rm -rf "$work/unpack"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work" "$sizes_systemd" "$sizes_five" "$unpacked_mb" "$load_before" "$load_after" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
work, s_sys, s_five, unpacked, lb, la = sys.argv[1:7]
res = {}
for f in ["pull", "push", "floor"]:
    for r in json.load(open(f"{work}/{f}.json"))["results"]:
        res[r["command"]] = statistics.median(r["times"])
def cell(n):
    return f"{res[n]:.2f}" if n in res else "–"
print("## pull and push (bench/pull-push.sh)\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores shared with other work "
      f"(load average {lb} before, {la} after), release build, Debian's `docker-registry` on loopback; "
      "`sudo bash bench/pull-push.sh` (hyperfine medians, seconds). "
      f"Images: the testkit's Debian bookworm systemd rootfs ({unpacked} MB tar) as one layer "
      f"(gzip, MB: {s_sys}) and the same files as 5 layers (MB: {s_five}). "
      "Pull into an empty store; push of the pulled image into an empty registry.\n")
print("| operation | image | berth | podman | docker | skopeo | berth ÷ podman | berth ÷ skopeo |")
print("|---|---|---|---|---|---|---|---|")
for op in ["pull", "push"]:
    for img in ["systemd", "five"]:
        b = res[f"berth {op} {img}"]
        row = [cell(f"{e} {op} {img}") for e in ["berth", "podman", "docker", "skopeo"]]
        rp = f"{b / res[f'podman {op} {img}']:.2f}"
        rs = f"{b / res[f'skopeo {op} {img}']:.2f}" if f"skopeo {op} {img}" in res else "–"
        print(f"| {op} | {'1 layer' if img == 'systemd' else '5 layers'} | " + " | ".join(row) + f" | {rp} | {rs} |")
print("\nThe floor, the big layer alone (no network, no digest):\n")
print("| step | s |\n|---|---|")
for n in ["gunzip to /dev/null", "gunzip and untar to disk", "gunzip, untar and sync", "sha256 of the blob", "bare upload (curl)"]:
    print(f"| {n} | {res[n]:.2f} |")
bp, bs = res["berth pull systemd"], res["berth push systemd"]
print(f"\nTargets: pull ≤ 0.3× podman: {bp / res['podman pull systemd']:.2f}× "
      f"({'met' if bp <= 0.3 * res['podman pull systemd'] else 'missed'}); "
      f"push ≤ 0.6× skopeo: {bs / res['skopeo push systemd']:.2f}× "
      f"({'met' if bs <= 0.6 * res['skopeo push systemd'] else 'missed'}). "
      f"berth's pull is {bp / res['gunzip, untar and sync']:.2f}× the unpack-and-sync floor "
      f"and {bp / res['gunzip and untar to disk']:.2f}× the unpack without sync; "
      f"its push {bs / res['bare upload (curl)']:.2f}× the bare upload.")
PY
cat "$work/section.md"
bench_record "pull and push (bench/pull-push.sh)" "$work/section.md"
