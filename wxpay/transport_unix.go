//go:build unix

package wxpay

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether an idle connection is still open and quiet: a
// server that closed it (or sent anything unasked, such as a TLS alert)
// has left bytes or an end of file to peek at. Taking such a connection
// would turn the next call's answer into "no answer", a coupon in doubt.
func connAlive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, perr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(perr, syscall.EAGAIN)
		return true // a peek, never a wait
	})
	return err == nil && alive
}
