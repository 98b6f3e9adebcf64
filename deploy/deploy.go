// Package deploy holds what it takes to run ledgerd as a service: the
// systemd unit ledgerd.service (Type=notify with a watchdog, DynamicUser,
// StateDirectory, credentials through LoadCredential= and *_SECRET_FILE,
// and a sandbox that systemd-analyze security rates "OK"). The Go package
// exists so that the unit is tested like code: unit_test.go runs
// systemd-analyze verify and security on it.
package deploy

import _ "embed"

//go:embed ledgerd.service
var unit string

// Unit returns the text of ledgerd.service.
func Unit() string { return unit }
