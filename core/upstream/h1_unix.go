//go:build unix

package upstream

import (
	"errors"
	"syscall"
)

// alive reports whether an idle connection can carry another request: the upstream has neither closed it nor
// sent anything unasked. It peeks at the socket without waiting, one system call.
func (c *h1Conn) alive() bool {
	if c.raw == nil {
		return true
	}
	ok := false
	var buf [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		// No error means the upstream closed the connection (0 bytes) or sent something unasked: either way it
		// cannot be used. Only "nothing to read yet" keeps it.
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && ok
}
