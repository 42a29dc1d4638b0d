package campaign

import (
	"os/exec"
	"syscall"
)

// dieWithUs makes the child end when the test process does, even killed
// by a timeout: no `issuer run` outlives its campaign.
func dieWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
