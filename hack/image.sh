#!/usr/bin/env bash
# Builds the operator's container image without a container engine, and writes it as one archive
# that both `docker load -i` and `skopeo copy oci-archive:` accept.
#
#   IMG=ghcr.io/prism/prism-operator:v0.1.0 IMAGE_ARCHIVE=dist/prism-operator.oci.tar hack/image.sh
#
# The image is what the Dockerfile describes, assembled from this machine's own parts because no
# base image can be pulled: the release binary, the shared libraries it links (glibc and
# libgcc_s, from the Debian the binary was built on), the CA bundle, a passwd and group entry
# for the non-root user 65532, and the copyright files of what it ships. ENTRYPOINT
# /prism-operator, CMD run, USER 65532:65532; nothing in it has to be writable.
#
# umoci writes the OCI image layout; the script adds Docker's manifest.json beside index.json
# (as `docker save` does since Docker 25), so the same tar loads into Docker of any version, and
# names the image in index.json for containerd (`ctr image import`, `kind load image-archive`).
# Timestamps come from the last commit, so the same commit and binary give the same digests.
# Prints the archive's path and the image's digest and size on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "image: $tool is missing: run  hack/deps.sh  (as root, or: sudo apt-get install -y umoci skopeo)" >&2; exit 1; }
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
img="${IMG:-ghcr.io/prism/prism-operator:v$version}"
archive="${IMAGE_ARCHIVE:-dist/prism-operator.oci.tar}"
tag="${img##*:}"
[[ "$img" == *:* && "$tag" != */* ]] || { echo "image: IMG must name a tag (<repository>:<tag>), got '$img'" >&2; exit 1; }
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

# The binary: PRISM_OPERATOR_BINARY when given (already built), else the release build.
binary="${PRISM_OPERATOR_BINARY:-}"
if [[ -z "$binary" ]]; then
  echo "--- cargo build --release -p prism-operator" >&2
  cargo build --release --locked -q -p prism-operator
  target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  binary="$target_dir/release/prism-operator"
fi
[[ -x "$binary" ]] || { echo "image: no operator binary at $binary" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/prism-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{etc/ssl/certs,home/nonroot,tmp,usr/share/doc}

install -m 0755 "$binary" "$root/prism-operator"
# The dynamic loader and every library it resolves, at the path the binary asks for.
while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done < <(ldd "$binary" | grep -o '/[^ ]*' | sort -u)
# Copyright files of the packages those libraries and the CA bundle come from.
for file in $(ldd "$binary" | grep -o '/[^ ]*' | xargs -r -n1 readlink -f) /etc/ssl/certs/ca-certificates.crt; do
  package="$(dpkg-query -S "$file" 2>/dev/null | head -1 | cut -d: -f1 || true)"
  [[ -n "$package" && -f "/usr/share/doc/$package/copyright" ]] || continue
  install -D -m 0644 "/usr/share/doc/$package/copyright" "$root/usr/share/doc/$package/copyright"
done
install -D -m 0644 LICENSE "$root/usr/share/doc/prism-operator/copyright"
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || { echo "image: no CA bundle: run  apt-get install -y ca-certificates" >&2; exit 1; }
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}
chmod 1777 "$root/tmp"
chmod 0700 "$root/home/nonroot"
# Ownership and times do not depend on who built it or when.
if [[ $(id -u) == 0 ]]; then
  chown -R 0:0 "$root"
  chown 65532:65532 "$root/home/nonroot"
  rootless=()
else
  rootless=(--rootless)
fi
find "$root" -exec touch -h -d "@$epoch" {} +

layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert "${rootless[@]}" --image "$layout:$tag" \
  --history.created "$created" --history.created_by "hack/image.sh (prism-operator $version, $revision)" \
  "$root" /
umoci config --image "$layout:$tag" --created "$created" --no-history \
  --author "prism-operator" --architecture amd64 --os linux \
  --config.user 65532:65532 --config.workingdir / \
  --config.entrypoint /prism-operator --config.cmd run \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.label "org.opencontainers.image.title=prism-operator" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$revision" \
  --config.label "org.opencontainers.image.source=https://github.com/prism/prism-operator" \
  --config.label "org.opencontainers.image.licenses=MIT" \
  --config.label "org.opencontainers.image.created=$created"
umoci gc --layout "$layout"

# index.json names the image for containerd; manifest.json is what `docker load` reads.
python3 - "$layout" "$img" "$tag" <<'EOF'
import json, pathlib, sys
layout, img, tag = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
index = json.loads((layout / "index.json").read_text())
(entry,) = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
entry["annotations"]["io.containerd.image.name"] = img
(layout / "index.json").write_text(json.dumps(index, separators=(",", ":")))
blob = lambda digest: "blobs/" + digest.replace(":", "/", 1)
manifest = json.loads((layout / blob(entry["digest"])).read_text())
docker = [{"Config": blob(manifest["config"]["digest"]), "RepoTags": [img], "Layers": [blob(l["digest"]) for l in manifest["layers"]]}]
(layout / "manifest.json").write_text(json.dumps(docker, separators=(",", ":")))
size = manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])
print(f"image {img}: {entry['digest']}, {size / 1048576:.1f} MiB compressed", file=sys.stderr)
EOF
chmod -R a+rX "$layout"
mkdir -p "$(dirname "$archive")"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$archive.tmp" .
mv "$archive.tmp" "$archive"
skopeo inspect --raw "oci-archive:$archive" >/dev/null
echo "$archive"
