// Package deploy holds the files that deploy opennimble (kubernetes/: plain
// manifests and a kustomization). It has no code; its tests apply the
// manifests to a real API server and check what they grant.
package deploy
