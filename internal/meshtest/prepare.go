package meshtest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/trust"
)

// Prepare builds a federation in dir and one data directory per spec, with
// its key and credential installed, but starts no node. Start nodes with
// Restart, or hand a node's directory to another process (WriteConfig)
// when its memory must be measured alone.
func Prepare(dir string, specs []Spec, o Options) (*Mesh, error) {
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
			return nil, fmt.Errorf("node %d (%s): %w", i, s.Team, err)
		}
		m.Nodes = append(m.Nodes, n)
	}
	return m, nil
}

// NodeConfig is the configuration node i would start with now: loopback,
// free ports, bootstrapping from every running node, after
// Options.Configure.
func (m *Mesh) NodeConfig(i int) (node.Config, error) { return m.config(i) }

// WriteConfig writes cfg as node i's configuration file, so that another
// process started on the node's directory (node.LoadConfig) runs with it.
func (m *Mesh) WriteConfig(i int, cfg node.Config) error {
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(m.Nodes[i].Dir, node.ConfigFile), b, 0o600)
}
