// Package state owns the platform's shared state in Redis: the key names, the
// hashes and sets under them, their TTLs, the change channel and its message
// kinds. Pods write through a Store; the gateway, xds and the deployment
// controller read through a Store or keep a live view with a Watcher. No other
// package names a key.
//
//	replica:{deployment}:{id}      hash, TTL refreshed by the replica's heartbeat
//	                               (fields: see Replica)
//	residency:{deployment}:{id}    set of the adapter ids loaded in that replica,
//	                               same TTL
//	deployment:{name}              hash: a deployment's spec, status and
//	                               counters (fields: see Deployment); no TTL
//	deployment:{name}:events       stream of its status changes, capped near
//	                               1000 entries (fields: see DeploymentEvent)
//	deployment:{name}:private      hash: adapter id -> the tenant it is private
//	                               to; adapters not in it are public
//	graft:changes                  channel: one JSON Change per change
//
// A replica that dies without cleaning up disappears when its TTL passes. The
// channel only makes readers quick: a reader that misses a message (or sees
// Redis restart empty) heals at its next resync, because the keys are the truth.
package state

import (
	"fmt"
	"strings"
)

const (
	replicaPrefix    = "replica:"
	residencyPrefix  = "residency:"
	deploymentPrefix = "deployment:"
)

// ReplicaKey names the hash of replica id of deployment.
func ReplicaKey(deployment, id string) string { return replicaPrefix + deployment + ":" + id }

// ResidencyKey names the set of adapters loaded in replica id of deployment.
func ResidencyKey(deployment, id string) string { return residencyPrefix + deployment + ":" + id }

// DeploymentKey names the hash of a deployment's record.
func DeploymentKey(name string) string { return deploymentPrefix + name }

// DeploymentEventsKey names the stream of a deployment's status changes.
func DeploymentEventsKey(name string) string { return deploymentPrefix + name + ":events" }

// PrivateAdaptersKey names the hash of a deployment's private adapters.
func PrivateAdaptersKey(deployment string) string { return deploymentPrefix + deployment + ":private" }

// parseReplicaKey splits a key made by ReplicaKey.
func parseReplicaKey(key string) (deployment, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, replicaPrefix)
	if !ok {
		return "", "", false
	}
	deployment, id, ok = strings.Cut(rest, ":")
	if !ok || CheckName(deployment) != nil || CheckName(id) != nil {
		return "", "", false
	}
	return deployment, id, true
}

// parseDeploymentKey reads the name out of a key made by DeploymentKey; the
// events stream and anything else under the prefix is not one.
func parseDeploymentKey(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, deploymentPrefix)
	if !ok || CheckName(name) != nil {
		return "", false
	}
	return name, true
}

// maxNameLen keeps keys short; Kubernetes object names fit.
const maxNameLen = 253

// CheckName reports whether s may be a deployment name or a replica id: 1 to
// 253 letters, digits, '.', '_' or '-'. The key scheme depends on it: a ':'
// would make "replica:a:b:c" ambiguous, and a '*' or '[' would turn a SCAN
// pattern into a wildcard over other deployments.
func CheckName(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("name %q must be 1 to %d characters", s, maxNameLen)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("name %q: %q is not allowed (letters, digits, '.', '_' and '-' are)", s, r)
		}
	}
	return nil
}
