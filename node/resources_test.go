package node

import (
	"testing"

	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/trust"
)

func TestResourceLimitsCapPeers(t *testing.T) {
	l := resourceLimits().ToPartialLimitConfig()
	if got := l.PeerDefault.StreamsInbound; int(got) != peerStreamsInbound {
		t.Errorf("peer inbound streams %v, want %d", got, peerStreamsInbound)
	}
	if got := l.PeerDefault.Conns; int(got) != peerConns {
		t.Errorf("peer conns %v, want %d", got, peerConns)
	}
	if got := l.ProtocolPeer[gossip.SyncProtocolID].StreamsInbound; int(got) != syncStreamsPerPeer {
		t.Errorf("sync streams per peer %v, want %d", got, syncStreamsPerPeer)
	}
	if got := l.ProtocolPeer[trust.ProtocolID].StreamsInbound; int(got) != credStreamsPerPeer {
		t.Errorf("handshake streams per peer %v, want %d", got, credStreamsPerPeer)
	}
	if l.System.Memory <= 0 {
		t.Errorf("system memory limit %v", l.System.Memory)
	}
}
