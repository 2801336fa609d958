package node

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/trust"
)

// Files of a node's data directory.
const (
	KeyFile           = "node.key"       // Ed25519 libp2p identity, 0600
	EncryptionKeyFile = "encryption.key" // X25519 private key, 0600
	FederationFile    = "federation.json"
	CredentialFile    = "credential.json"
	NodeInfoFile      = "node-info.json"
	LedgerDir         = "ledger"
)

// InitOptions describes a new node directory.
type InitOptions struct {
	Dir            string
	FederationPath string
	Team           string
}

// Init creates a node directory (0700) with a fresh identity, encryption key,
// a copy of the federation file, a default config and node-info.json. It
// refuses to touch a directory that already holds a node.
func Init(o InitOptions) (trust.NodeInfo, error) {
	var info trust.NodeInfo
	if o.Dir == "" {
		return info, fmt.Errorf("%w: data directory not given", ErrConfig)
	}
	fedBytes, err := os.ReadFile(o.FederationPath)
	if err != nil {
		return info, fmt.Errorf("read federation: %w", err)
	}
	if _, err := trust.ParseFederation(fedBytes); err != nil {
		return info, fmt.Errorf("federation %s: %w", o.FederationPath, err)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, KeyFile)); err == nil {
		return info, fmt.Errorf("%w: %s already holds a node (found %s)", ErrExists, o.Dir, KeyFile)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return info, fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return info, fmt.Errorf("data directory mode: %w", err)
	}

	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return info, fmt.Errorf("generate node key: %w", err)
	}
	keyBytes, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return info, fmt.Errorf("encode node key: %w", err)
	}
	enc, err := trust.GenerateEncryptionKey()
	if err != nil {
		return info, fmt.Errorf("generate encryption key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return info, err
	}
	info = trust.NodeInfo{PeerID: id, EncryptionKey: enc.PublicKey().Bytes(), Team: o.Team}
	cfg := DefaultConfig(o.Dir)
	cfgBytes, err := cfg.Marshal()
	if err != nil {
		return info, err
	}
	writes := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{KeyFile, keyBytes, 0o600},
		{FederationFile, fedBytes, 0o644},
		{ConfigFile, cfgBytes, 0o644},
		{NodeInfoFile, info.Marshal(), 0o644},
	}
	if err := trust.SaveEncryptionKey(filepath.Join(o.Dir, EncryptionKeyFile), enc); err != nil {
		return info, fmt.Errorf("write encryption key: %w", err)
	}
	for _, w := range writes {
		if err := writeNew(filepath.Join(o.Dir, w.name), w.data, w.mode); err != nil {
			return info, err
		}
	}
	return info, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// writeReplace atomically replaces a file (temp file, fsync, rename).
func writeReplace(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// identity is what a node loads from its data directory.
type identity struct {
	key     crypto.PrivKey
	id      peer.ID
	enc     *ecdh.PrivateKey
	fed     *trust.Federation
	cred    *trust.Credential
	credRaw []byte
}

// loadNodeKey reads the node's identity key, refusing a file others can read.
func loadNodeKey(dir string) (crypto.PrivKey, peer.ID, error) {
	keyBytes, err := readPrivate(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, "", err
	}
	key, err := crypto.UnmarshalPrivateKey(keyBytes)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", KeyFile, err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	return key, id, nil
}

func loadIdentity(dir string) (*identity, error) {
	key, id, err := loadNodeKey(dir)
	if err != nil {
		return nil, err
	}
	if _, err := readPrivate(filepath.Join(dir, EncryptionKeyFile)); err != nil {
		return nil, err
	}
	enc, err := trust.LoadEncryptionKey(filepath.Join(dir, EncryptionKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EncryptionKeyFile, err)
	}
	fed, err := trust.LoadFederation(filepath.Join(dir, FederationFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FederationFile, err)
	}
	credRaw, err := os.ReadFile(filepath.Join(dir, CredentialFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s: issue one with 'ctinode credential issue' and install it with 'ctinode credential install'", ErrNoCredential, CredentialFile, dir)
	}
	if err != nil {
		return nil, err
	}
	cred, err := trust.ParseCredential(credRaw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CredentialFile, err)
	}
	if cred.PeerID != id {
		return nil, fmt.Errorf("%w: %s names peer %s, this node is %s", ErrNoCredential, CredentialFile, cred.PeerID, id)
	}
	return &identity{key: key, id: id, enc: enc, fed: fed, cred: cred, credRaw: credRaw}, nil
}

// readPrivate reads a secret file and refuses one that others can read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v; run chmod 600 %s", ErrInsecureFile, filepath.Base(path), st.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

// InstallCredential checks a credential against the node's federation and
// identity, then installs it as DIR/credential.json (replacing any older one).
func InstallCredential(dir string, raw []byte) (*trust.Credential, error) {
	_, id, err := loadNodeKey(dir)
	if err != nil {
		return nil, err
	}
	fed, err := trust.LoadFederation(filepath.Join(dir, FederationFile))
	if err != nil {
		return nil, err
	}
	cred, err := trust.ParseCredential(raw)
	if err != nil {
		return nil, err
	}
	if err := cred.Verify(fed, now()); err != nil {
		return nil, fmt.Errorf("credential does not verify against %s: %w", FederationFile, err)
	}
	if cred.PeerID != id {
		return nil, fmt.Errorf("%w: credential is for peer %s, this node is %s", ErrNoCredential, cred.PeerID, id)
	}
	if err := writeReplace(filepath.Join(dir, CredentialFile), raw, 0o644); err != nil {
		return nil, fmt.Errorf("install credential: %w", err)
	}
	return cred, nil
}
