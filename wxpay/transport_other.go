//go:build !unix

package wxpay

import "net"

// connAlive cannot peek here; a connection the server closed while idle
// turns the next call into one in doubt, which a retry settles.
func connAlive(net.Conn) bool { return true }
