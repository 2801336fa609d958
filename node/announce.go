package node

import (
	"errors"

	ma "github.com/multiformats/go-multiaddr"
)

// validateAnnounce accepts a host multiaddr peers can dial: a transport
// address without /p2p/ (the node adds its own id).
func validateAnnounce(s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return err
	}
	if _, err := a.ValueForProtocol(ma.P_P2P); err == nil {
		return errors.New("leave out /p2p/<peer id>: the node adds its own")
	}
	return nil
}

// announceFactory returns a libp2p address factory that advertises exactly
// addrs (behind NAT or a load balancer, the listen addresses are private),
// or nil when none are configured.
func announceFactory(addrs []string) func([]ma.Multiaddr) []ma.Multiaddr {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue // Validate refused it already
		}
		out = append(out, a)
	}
	return func([]ma.Multiaddr) []ma.Multiaddr {
		return append([]ma.Multiaddr(nil), out...)
	}
}
