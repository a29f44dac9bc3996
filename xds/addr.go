package xds

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// splitHostPort accepts host:port or an http:// URL, as replicas report their
// address.
func splitHostPort(addr string) (string, uint32, error) {
	addr = strings.TrimPrefix(addr, "http://")
	addr = strings.TrimSuffix(addr, "/")
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, uint32(port), nil
}
