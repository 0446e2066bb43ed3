//go:build !unix

package upstream

// alive cannot peek at a socket here: a connection the upstream closed is found when the request fails, and the
// request is sent again on a new connection.
func (c *h1Conn) alive() bool { return true }
