// Package deploy holds the files that deploy opennimble: kubernetes/ (plain
// manifests and a kustomization), container/ (the image), systemd/ (a
// hardened unit) and grafana/ (a dashboard of the server's metrics). Its
// tests apply the manifests to a real API server and check what they grant,
// build the image with podman and run it from its unpacked root, and check
// the unit with systemd-analyze.
package deploy

// ImageName is the image scripts/build-image builds and the manifests run.
const ImageName = "ghcr.io/opennimble/opennimble"
