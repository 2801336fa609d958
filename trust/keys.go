package trust

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// EncryptionKeySize is the length of an X25519 public key.
const EncryptionKeySize = 32

// GenerateEncryptionKey creates a node's X25519 key. Its public half goes in
// the node's credential; peers wrap AMBER epoch keys to it.
func GenerateEncryptionKey() (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate encryption key: %w", err)
	}
	return k, nil
}

// SaveEncryptionKey writes k as a PKCS #8 PEM file with mode 0600 (the format
// openssl reads). It refuses to overwrite an existing file.
func SaveEncryptionKey(path string, k *ecdh.PrivateKey) error {
	if k == nil || k.Curve() != ecdh.X25519() {
		return fmt.Errorf("%w: encryption key must be X25519", ErrMalformed)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("encode encryption key: %w", err)
	}
	return writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// LoadEncryptionKey reads a file written by SaveEncryptionKey. The file must
// not be readable by group or others.
func LoadEncryptionKey(path string) (*ecdh.PrivateKey, error) {
	b, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%s: %w: want one PEM \"PRIVATE KEY\" block", filepath.Base(path), ErrMalformed)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", filepath.Base(path), ErrMalformed, err)
	}
	ek, ok := k.(*ecdh.PrivateKey)
	if !ok || ek.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%s: %w: not an X25519 key", filepath.Base(path), ErrMalformed)
	}
	return ek, nil
}

// checkEncryptionKey validates an X25519 public key.
func checkEncryptionKey(b []byte) error {
	if _, err := ecdh.X25519().NewPublicKey(b); err != nil {
		return fmt.Errorf("%w: encryption_key: %v", ErrMalformed, err)
	}
	return nil
}

// checkPeerID accepts only peer ids that embed an Ed25519 key: entries are
// verified against the key inside the origin's id.
func checkPeerID(p peer.ID) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: peer_id: %v", ErrMalformed, err)
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: peer_id %s does not embed its key: %v", ErrMalformed, p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: peer_id %s is a %s key, want Ed25519", ErrMalformed, p, pub.Type())
	}
	return nil
}

func parsePeerID(s string) (peer.ID, error) {
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: peer_id %q: %v", ErrMalformed, s, err)
	}
	if err := checkPeerID(p); err != nil {
		return "", err
	}
	return p, nil
}

// NodeInfo is what a node's operator sends the authority to ask for a
// credential (node-info.json, written by `ctinode init`).
type NodeInfo struct {
	PeerID        peer.ID
	EncryptionKey []byte // X25519 public key
	Team          string
}

type nodeInfoJSON struct {
	PeerID        string `json:"peer_id"`
	EncryptionKey string `json:"encryption_key"`
	Team          string `json:"team"`
}

// Validate checks the peer id, key and team name.
func (n NodeInfo) Validate() error {
	if err := checkPeerID(n.PeerID); err != nil {
		return fmt.Errorf("node info: %w", err)
	}
	if err := checkEncryptionKey(n.EncryptionKey); err != nil {
		return fmt.Errorf("node info: %w", err)
	}
	if err := checkName("team", n.Team); err != nil {
		return fmt.Errorf("node info: %w", err)
	}
	return nil
}

// Marshal renders node-info.json as indented JSON.
func (n NodeInfo) Marshal() []byte {
	return marshalIndent(nodeInfoJSON{
		PeerID:        n.PeerID.String(),
		EncryptionKey: encodeB64(n.EncryptionKey),
		Team:          n.Team,
	})
}

// ParseNodeInfo decodes node-info.json strictly.
func ParseNodeInfo(b []byte) (NodeInfo, error) {
	var w nodeInfoJSON
	var n NodeInfo
	err := decodeStrict(b, []field{
		{"peer_id", &w.PeerID, true},
		{"encryption_key", &w.EncryptionKey, true},
		{"team", &w.Team, true},
	})
	if err != nil {
		return n, fmt.Errorf("node info: %w", err)
	}
	if n.PeerID, err = parsePeerID(w.PeerID); err != nil {
		return n, fmt.Errorf("node info: %w", err)
	}
	if n.EncryptionKey, err = decodeB64("encryption_key", w.EncryptionKey, EncryptionKeySize); err != nil {
		return n, fmt.Errorf("node info: %w", err)
	}
	n.Team = w.Team
	if err := n.Validate(); err != nil {
		return NodeInfo{}, err
	}
	return n, nil
}

// LoadNodeInfo reads and parses node-info.json.
func LoadNodeInfo(path string) (NodeInfo, error) {
	b, err := readRecord(path)
	if err != nil {
		return NodeInfo{}, err
	}
	return ParseNodeInfo(b)
}
