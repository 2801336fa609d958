package node_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// A fresh mesh forms on its first connections. Pubsub hears each peer only
// once the peer's credential is verified, so no subscription is refused for
// want of it and no peer has to be reconnected for pubsub to judge it again.
// (Before, about half the peer pairs raced their handshake and were
// reconnected, and that reconnect raced pubsub: a few meshes in a hundred
// never formed.)
func TestFreshMeshNeedsNoReconnect(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Green),
		member("CERT-D", trust.StatusAccredited, stix.Amber),
	)
	for _, n := range m.Nodes {
		c := dial(t, n)
		body, err := c.Do(context.Background(), http.MethodGet, adminapi.PathMetrics, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "\nctimesh_gossip_resyncs_total 0\n") {
			t.Errorf("%s reconnected peers while the mesh formed:\n%s", n.Spec.Name, grepLines(string(body), "ctimesh_gossip_resyncs_total"))
		}
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
