//go:build !linux

package campaign

import "os/exec"

// dieWithUs does nothing where the system cannot tie a child's life to
// ours; Run's cleanup still kills the instances it started.
func dieWithUs(*exec.Cmd) {}
