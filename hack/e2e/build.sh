#!/usr/bin/env bash
# build.sh builds etcd, kube-apiserver, kube-controller-manager and kubectl at the versions
# pinned in hack/e2e/kubebin/go.mod into <project root>/.cache/e2e-bin/<versions>/, and points
# .cache/e2e-bin/current at that folder. A folder that already holds all four binaries for the
# same versions is reused: the build runs once per machine and version set.
set -euo pipefail

e2e_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${e2e_dir}/../.." && pwd)"
cd "${e2e_dir}/kubebin"

go="${GO:-go}"
k8s_version="$("${go}" list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$("${go}" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
go_version="$("${go}" env GOVERSION)"
key="k8s-${k8s_version}_etcd-${etcd_version}_${go_version}"
cache="${root}/.cache/e2e-bin"
out="${cache}/${key}"
binaries=(etcd kube-apiserver kube-controller-manager kubectl)

have_all=true
for b in "${binaries[@]}"; do
	[[ -x "${out}/${b}" ]] || have_all=false
done

if ${have_all}; then
	echo "e2e binaries: reusing ${out}" >&2
else
	echo "e2e binaries: building ${key} into ${out} (several minutes, once)" >&2
	mkdir -p "${out}.tmp"
	start=$(date +%s)
	# Version stamps so that kubectl and the HPA controller see a real version, not v0.0.0.
	minor="${k8s_version#v1.}"
	minor="${minor%%.*}"
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
		ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	done
	CGO_ENABLED=0 "${go}" build -trimpath -ldflags "${ldflags}" -o "${out}.tmp/" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kubectl
	CGO_ENABLED=0 "${go}" build -trimpath -ldflags "-s -w" -o "${out}.tmp/etcd" go.etcd.io/etcd/server/v3
	rm -rf "${out}"
	mv "${out}.tmp" "${out}"
	echo "e2e binaries: built in $(( $(date +%s) - start ))s" >&2
fi
ln -sfn "${key}" "${cache}/current"
echo "${out}"
