package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/ctimesh/ctimesh/taxii"
	"github.com/ctimesh/ctimesh/trust"
)

// TaxiiConfig is the `taxii:` section of ctinode.yaml: the node's TAXII
// 2.1 server (docs/TAXII.md). Listen empty: off. Its clients live in
// DATA/taxii-clients.json, not here; a running node picks changes to that
// file up within seconds and on reload.
type TaxiiConfig struct {
	// Listen is host:port (`--taxii`). Plain HTTP is allowed on loopback
	// only; anything else needs CertFile and KeyFile. Default: "" (off).
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are the PEM certificate chain and key for TLS,
	// both or neither; re-read when they change on disk. Default: none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MaxBodyBytes bounds one POST. Default: 64 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublicURL is the base URL clients reach the server at, for discovery
	// behind a proxy ("https://taxii.example.org:9443"). Default: each
	// request's own scheme and host.
	PublicURL string `yaml:"public_url"`
	// APIRoot is the API root's path segment. Default: ctimesh.
	APIRoot string `yaml:"api_root"`
	// Title and Contact fill the discovery resource. Default: "ctimesh
	// TAXII 2.1", none.
	Title   string `yaml:"title"`
	Contact string `yaml:"contact"`
}

func (c TaxiiConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: taxii.%s: "+format, append([]any{ErrConfig, field}, args...)...))
	}
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		switch {
		case err != nil:
			bad("listen", "%q: %v", c.Listen, err)
		case port == "":
			bad("listen", "%q: missing port", c.Listen)
		case c.CertFile == "" && !taxii.IsLoopback(host):
			bad("listen", "%q is not a loopback address: serving TAXII beyond this host needs TLS (taxii.cert_file, taxii.key_file)", c.Listen)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			bad("cert_file", "empty while taxii.key_file is set: both or neither")
		} else {
			bad("key_file", "empty while taxii.cert_file is set: both or neither")
		}
	}
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes", "%d is negative", c.MaxBodyBytes)
	}
	if len(errs) > 0 {
		return errs
	}
	// What is left (public_url, api_root) is checked by the taxii package.
	tc := c.taxiiConfig()
	tc.ClientsFile, tc.Scope.FederationID = "x", "x"
	if err := tc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: taxii: %w", ErrConfig, err))
	}
	return errs
}

// taxiiConfig maps the section onto taxii.Config; the node adds the rest.
func (c TaxiiConfig) taxiiConfig() taxii.Config {
	return taxii.Config{
		Listen:       c.Listen,
		CertFile:     c.CertFile,
		KeyFile:      c.KeyFile,
		MaxBodyBytes: c.MaxBodyBytes,
		PublicURL:    c.PublicURL,
		APIRoot:      c.APIRoot,
		Title:        c.Title,
		Contact:      c.Contact,
	}
}

// startTaxii starts the TAXII server when it is configured. Called by
// Start after the admin API; Close closes it before the ledger.
func (n *Node) startTaxii() error {
	if n.cfg.Taxii.Listen == "" {
		return nil
	}
	tc := n.cfg.Taxii.taxiiConfig()
	tc.ClientsFile = filepath.Join(n.cfg.DataDir, taxii.ClientsFileName)
	tc.APIRootTitle = "ctimesh node of " + n.id.cred.Team
	tc.Scope = n.taxiiScope()
	tc.Logger = n.log.With("component", "taxii")
	tc.Now = n.now
	// n.store, not n.Objects: Objects widens an empty group list to every
	// group (the operator's view), the store keeps the client's.
	srv, err := taxii.New(tc, n.store, taxiiPublisher{n})
	if err != nil {
		return fmt.Errorf("taxii: %w", err)
	}
	addr, err := srv.Start()
	if err != nil {
		srv.Close()
		return fmt.Errorf("start taxii: %w", err)
	}
	n.taxii, n.taxiiAddr = srv, addr
	return nil
}

// TaxiiAddr is the TAXII server's address, nil when it is off.
func (n *Node) TaxiiAddr() net.Addr { return n.taxiiAddr }

// taxiiScope is what the node's own credential lets it hold and publish.
func (n *Node) taxiiScope() taxii.Scope {
	c := n.id.cred
	return taxii.Scope{
		FederationID: n.id.fed.ID().String(),
		MaxTLP:       c.MaxTLP,
		Groups:       c.Groups,
		ReadOnly:     c.Role == trust.RoleObserver,
	}
}

// taxiiPublisher adapts the node's publish path to taxii.Publisher.
type taxiiPublisher struct{ n *Node }

func (p taxiiPublisher) Publish(ctx context.Context, objects [][]byte, req taxii.PublishRequest) (taxii.PublishOutcome, error) {
	res, err := p.n.Publish(ctx, envelopeOf(objects), PublishOptions{TLP: req.Level, Group: req.Group, PerObject: true})
	switch {
	case errors.Is(err, ErrForbidden):
		return taxii.PublishOutcome{}, fmt.Errorf("%w: %w", taxii.ErrForbidden, err)
	case errors.Is(err, ErrInvalidRequest):
		return taxii.PublishOutcome{}, fmt.Errorf("%w: %w", taxii.ErrUnprocessable, err)
	case err != nil:
		return taxii.PublishOutcome{}, err
	}
	out := taxii.PublishOutcome{Accepted: res.Accepted}
	for _, f := range res.Failed {
		out.Failures = append(out.Failures, taxii.PublishFailure{Index: f.Index, Reason: f.Reason})
	}
	if len(res.Accepted) > 0 {
		p.n.log.Info("taxii publish", "client", req.Client, "accepted", len(res.Accepted), "failed", len(res.Failed))
	}
	return out, nil
}

// envelopeOf joins raw objects into one {"objects":[...]} document,
// keeping their order (indexes in the outcome refer to it).
func envelopeOf(objects [][]byte) []byte {
	size := 16
	for _, o := range objects {
		size += len(o) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"objects":[`...)
	for i, o := range objects {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o...)
	}
	return append(b, "]}"...)
}
