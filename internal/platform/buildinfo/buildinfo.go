// Package buildinfo says which build of Pulse is running.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at release time:
// go build -ldflags "-X github.com/pulse-run/pulse/internal/platform/buildinfo.Version=v1.2.3"
var Version = "dev"

// Revision is the VCS commit the binary was built from, when Go recorded it.
func Revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// String is a one-line description for `pulse version` and logs.
func String() string {
	s := "pulse " + Version
	if r := Revision(); r != "" {
		if len(r) > 12 {
			r = r[:12]
		}
		s += " (" + r + ")"
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
