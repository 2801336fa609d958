package meshtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Spec describes one node of a test federation: the credential the
// authority issues it.
type Spec struct {
	Name      string // directory name; defaults to the team
	Team      string
	Status    trust.Status
	Role      trust.Role
	MaxTLP    stix.Level
	Groups    []string
	Regulated bool
}

// Options tune a mesh.
type Options struct {
	// Logger for every node; nil discards logs.
	Logger *slog.Logger
	// FederationName defaults to "meshtest".
	FederationName string
	// Configure may adjust each node's config before it starts.
	Configure func(i int, cfg *node.Config)
	// UnsafeGossip, if set, gives node i deliberately unsafe pubsub
	// options when it starts (leak tests only). Nodes start in order, so
	// node i can name nodes before it as direct peers.
	UnsafeGossip func(i int, m *Mesh) gossip.UnsafeOptions
}

// Mesh is a running in-process federation: one authority, N nodes on
// loopback, each with a real libp2p host, a real Badger ledger and an admin
// API, built exactly like `ctinode federation init`, `init`, `credential
// issue`, `credential install` and `run` build them.
type Mesh struct {
	Dir            string
	FederationPath string
	Federation     *trust.Federation
	Authority      *trust.Authority
	Nodes          []*Node
	opts           Options
}

// Node is one member of a mesh.
type Node struct {
	*node.Node
	Spec       Spec
	Dir        string
	Credential *trust.Credential
	mesh       *Mesh
	index      int
}

// Start builds a federation in dir and starts one node per spec, each
// bootstrapping from the nodes started before it.
func Start(dir string, specs []Spec, o Options) (*Mesh, error) {
	if o.FederationName == "" {
		o.FederationName = "meshtest"
	}
	m := &Mesh{Dir: dir, opts: o}
	auth, err := trust.GenerateAuthority()
	if err != nil {
		return nil, err
	}
	fed := trust.NewFederation(o.FederationName, auth.Public())
	m.Authority, m.Federation = auth, fed
	m.FederationPath = filepath.Join(dir, "federation.json")
	if err := os.WriteFile(m.FederationPath, fed.Marshal(), 0o644); err != nil {
		return nil, err
	}
	for i, s := range specs {
		n, err := m.addNode(i, s)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("node %d (%s): %w", i, s.Team, err)
		}
		m.Nodes = append(m.Nodes, n)
	}
	for i := range m.Nodes {
		if err := m.startNode(i); err != nil {
			m.Close()
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
	}
	return m, nil
}

func (m *Mesh) addNode(i int, s Spec) (*Node, error) {
	if s.Name == "" {
		s.Name = fmt.Sprintf("%02d-%s", i, s.Team)
	}
	dir := filepath.Join(m.Dir, s.Name)
	info, err := node.Init(node.InitOptions{Dir: dir, FederationPath: m.FederationPath, Team: s.Team})
	if err != nil {
		return nil, err
	}
	cred, err := trust.Issue(m.Authority, m.Federation, trust.IssueRequest{
		PeerID:        info.PeerID,
		Team:          s.Team,
		Status:        s.Status,
		Role:          s.Role,
		MaxTLP:        s.MaxTLP,
		Groups:        s.Groups,
		Regulated:     s.Regulated,
		EncryptionKey: info.EncryptionKey,
	})
	if err != nil {
		return nil, err
	}
	if _, err := node.InstallCredential(dir, cred.Marshal()); err != nil {
		return nil, err
	}
	return &Node{Spec: s, Dir: dir, Credential: cred, mesh: m, index: i}, nil
}

// config is node i's configuration: loopback, free ports, bootstrapping
// from every other node already running.
func (m *Mesh) config(i int) (node.Config, error) {
	cfg, err := node.LoadConfig(m.Nodes[i].Dir)
	if err != nil {
		return cfg, err
	}
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Admin = "127.0.0.1:0"
	cfg.HandshakeTimeout = 3 * time.Second
	cfg.ReconnectInterval = 500 * time.Millisecond
	cfg.Peers = nil
	for j, other := range m.Nodes {
		if j != i && other.Node != nil {
			cfg.Peers = append(cfg.Peers, other.ListenAddrs()...)
		}
	}
	if m.opts.Configure != nil {
		m.opts.Configure(i, &cfg)
	}
	return cfg, nil
}

func (m *Mesh) startNode(i int) error {
	cfg, err := m.config(i)
	if err != nil {
		return err
	}
	log := m.opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nopts := node.Options{Logger: log.With("node", m.Nodes[i].Spec.Name)}
	if m.opts.UnsafeGossip != nil {
		nopts.UnsafeGossip = m.opts.UnsafeGossip(i, m)
	}
	n, err := node.New(cfg, nopts)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		n.Close()
		return err
	}
	m.Nodes[i].Node = n
	return nil
}

// Stop closes node i, keeping its directory.
func (m *Mesh) Stop(i int) error {
	n := m.Nodes[i]
	if n.Node == nil {
		return nil
	}
	err := n.Node.Close()
	n.Node = nil
	return err
}

// Restart stops node i if running and starts it again from its directory.
func (m *Mesh) Restart(i int) error {
	if err := m.Stop(i); err != nil {
		return err
	}
	return m.startNode(i)
}

// Close stops every node.
func (m *Mesh) Close() error {
	var errs []error
	for i := range m.Nodes {
		errs = append(errs, m.Stop(i))
	}
	return errors.Join(errs...)
}

// Eligible reports whether node j may receive feed as published by node i,
// according to the trust policy applied to j's credential.
func (m *Mesh) Eligible(i, j int, feed envelope.Feed) bool {
	return trust.MayReceive(m.Nodes[j].Credential, feed, m.Nodes[i].Spec.Team).Allowed
}

// WaitReady waits until every running node is connected to every other
// running node with a verified credential, and every node's gossip topics
// list every eligible running peer, so a publish reaches everyone eligible.
func (m *Mesh) WaitReady(ctx context.Context) error {
	return poll(ctx, func() error {
		for i, a := range m.Nodes {
			if a.Node == nil {
				continue
			}
			for j, b := range m.Nodes {
				if i == j || b.Node == nil {
					continue
				}
				if !a.Verified(b.PeerID()) {
					return fmt.Errorf("%s has not verified %s", a.Spec.Name, b.Spec.Name)
				}
			}
			for _, f := range a.Feeds() {
				peers := a.TopicPeers(f)
				for j, b := range m.Nodes {
					if i == j || b.Node == nil || f.Level == stix.AmberStrict && b.Spec.Team != a.Spec.Team {
						continue
					}
					if !slices.Contains(b.Feeds(), f) {
						continue
					}
					if !slices.Contains(peers, b.PeerID()) {
						return fmt.Errorf("%s does not see %s on %s", a.Spec.Name, b.Spec.Name, f)
					}
				}
			}
		}
		return nil
	})
}

// poll retries f every 50 ms until it returns nil or ctx ends, returning
// f's last error.
func poll(ctx context.Context, f func() error) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Poll is poll for callers: retry f until nil or ctx ends.
func Poll(ctx context.Context, f func() error) error { return poll(ctx, f) }
