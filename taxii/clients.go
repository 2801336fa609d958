package taxii

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Client is one TAXII client and its rights, as stored in the clients file.
type Client struct {
	// Name is the HTTP Basic user name: 1-64 of [A-Za-z0-9._-].
	Name string `json:"name"`
	// MaxTLP is the client's ceiling: it reads no collection above it.
	MaxTLP stix.Level `json:"max_tlp"`
	// Groups are the node groups whose collections the client may read.
	Groups []string `json:"groups,omitempty"`
	// Write lets the client POST to the collections it may read.
	Write bool `json:"write"`
	// InTeam marks a tool of the node's own team: the only kind of client
	// that may read AMBER+STRICT (and only with MaxTLP >= amber+strict).
	InTeam  bool      `json:"in_team"`
	Created time.Time `json:"created"`
	// KeyID is the public part of the secret: it finds the client of a
	// token without trying every hash.
	KeyID string `json:"key_id"`
	// SecretHash is "pbkdf2-sha256$<iterations>$<salt>$<key>" (base64url).
	SecretHash string `json:"secret_hash"`
}

// ClientSpec is what an operator chooses for a new client.
type ClientSpec struct {
	Name   string
	MaxTLP stix.Level
	Groups []string
	Write  bool
	InTeam bool
}

// clientsFile is the JSON document on disk.
type clientsFile struct {
	Version int      `json:"version"`
	Clients []Client `json:"clients"`
}

const (
	clientsVersion = 1
	// kdfIterations: secrets are 256 random bits, so the KDF is defence in
	// depth for a leaked file, not what makes them unguessable; verified
	// secrets are cached (see Clients), so the cost is paid once.
	kdfIterations = 100_000
	kdfScheme     = "pbkdf2-sha256"
	secretPrefix  = "ctx1"
	keyIDLen      = 16 // hex characters
	maxClientName = 64
	// maxClientsFile bounds what ReadClients reads.
	maxClientsFile = 16 << 20
)

// ValidClientName reports whether name can be a client name.
func ValidClientName(name string) bool {
	if name == "" || len(name) > maxClientName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks a client's name, ceiling and groups.
func (s ClientSpec) Validate() error {
	var errs []error
	if !ValidClientName(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1-%d of A-Z a-z 0-9 . _ -", s.Name, maxClientName))
	}
	if !s.MaxTLP.Valid() {
		errs = append(errs, fmt.Errorf("max tlp: want clear, green, amber, amber+strict or red"))
	}
	for _, g := range s.Groups {
		if g == "" {
			errs = append(errs, errors.New("group: empty"))
		} else if err := envelope.ValidateGroup(g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ParseClients decodes and checks a clients file. It is strict: unknown
// fields, duplicate names or key ids and invalid rights are errors, so a
// hand-edited file never silently grants more than it says.
func ParseClients(b []byte) ([]Client, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f clientsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClients, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrClients)
	}
	if f.Version != clientsVersion {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrClients, f.Version, clientsVersion)
	}
	names := map[string]bool{}
	keys := map[string]bool{}
	for i, c := range f.Clients {
		spec := ClientSpec{Name: c.Name, MaxTLP: c.MaxTLP, Groups: c.Groups, Write: c.Write, InTeam: c.InTeam}
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("%w: client %d: %w", ErrClients, i, err)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("%w: client %q listed twice", ErrClients, c.Name)
		}
		if len(c.KeyID) != keyIDLen || !isLowerHex(c.KeyID) || keys[c.KeyID] {
			return nil, fmt.Errorf("%w: client %q: bad or repeated key id", ErrClients, c.Name)
		}
		if _, _, _, err := parseHash(c.SecretHash); err != nil {
			return nil, fmt.Errorf("%w: client %q: %w", ErrClients, c.Name, err)
		}
		names[c.Name], keys[c.KeyID] = true, true
	}
	return f.Clients, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ReadClients reads the clients file at path; a missing file is no
// clients.
func ReadClients(path string) ([]Client, error) {
	b, err := readLimited(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseClients(b)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, maxClientsFile+1))
	if err != nil {
		return nil, err
	}
	if n > maxClientsFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrClients, path, maxClientsFile)
	}
	return buf.Bytes(), nil
}

// AddClient creates a client in the file at path (created 0600 if
// missing) and returns it with its secret, which is shown only now: the
// file keeps a salted hash. The secret is the Basic password (user: the
// name) and the token of "Authorization: Token <secret>".
func AddClient(path string, spec ClientSpec, now time.Time) (Client, string, error) {
	if err := spec.Validate(); err != nil {
		return Client{}, "", fmt.Errorf("%w: %w", ErrClients, err)
	}
	clients, err := ReadClients(path)
	if err != nil {
		return Client{}, "", err
	}
	for _, c := range clients {
		if c.Name == spec.Name {
			return Client{}, "", fmt.Errorf("%w: %q", ErrClientExists, spec.Name)
		}
	}
	var kb [keyIDLen / 2]byte
	var sb [32]byte
	rand.Read(kb[:])
	rand.Read(sb[:])
	keyID := hex.EncodeToString(kb[:])
	secret := secretPrefix + "." + keyID + "." + base64.RawURLEncoding.EncodeToString(sb[:])
	hash, err := hashSecret(secret)
	if err != nil {
		return Client{}, "", err
	}
	groups := slices.Clone(spec.Groups)
	slices.Sort(groups)
	c := Client{
		Name: spec.Name, MaxTLP: spec.MaxTLP, Groups: slices.Compact(groups), Write: spec.Write, InTeam: spec.InTeam,
		Created: now.UTC().Truncate(time.Second), KeyID: keyID, SecretHash: hash,
	}
	if err := writeClients(path, append(clients, c)); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// RemoveClient deletes the named client; ErrNoClient if there is none.
func RemoveClient(path, name string) error {
	clients, err := ReadClients(path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(clients, func(c Client) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNoClient, name)
	}
	return writeClients(path, slices.Delete(clients, i, i+1))
}

// writeClients replaces the file atomically (temporary file, fsync,
// rename), so a server polling it never reads half a file. Two editors
// racing each other: the last rename wins.
func writeClients(path string, clients []Client) error {
	if clients == nil {
		clients = []Client{}
	}
	b, err := json.MarshalIndent(clientsFile{Version: clientsVersion, Clients: clients}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".taxii-clients-*.tmp")
	if err != nil {
		return fmt.Errorf("write clients: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write clients: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write clients: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write clients: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write clients: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write clients: %w", err)
	}
	return nil
}

func hashSecret(secret string) (string, error) {
	var salt [16]byte
	rand.Read(salt[:])
	key, err := pbkdf2.Key(sha256.New, secret, salt[:], kdfIterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return kdfScheme + "$" + strconv.Itoa(kdfIterations) + "$" + enc.EncodeToString(salt[:]) + "$" + enc.EncodeToString(key), nil
}

func parseHash(h string) (iter int, salt, key []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != kdfScheme {
		return 0, nil, nil, errors.New("secret hash: want " + kdfScheme + "$iterations$salt$key")
	}
	iter, err = strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return 0, nil, nil, errors.New("secret hash: bad iteration count")
	}
	enc := base64.RawURLEncoding.Strict()
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != 32 {
		return 0, nil, nil, errors.New("secret hash: bad salt or key")
	}
	return iter, salt, key, nil
}

// verifySecret runs the KDF: slow on purpose.
func verifySecret(hash, secret string) bool {
	iter, salt, key, err := parseHash(hash)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(key))
	return err == nil && subtle.ConstantTimeCompare(got, key) == 1
}

// secretKeyID returns the key id inside a secret, or "".
func secretKeyID(secret string) string {
	p, rest, ok := strings.Cut(secret, ".")
	if !ok || p != secretPrefix {
		return ""
	}
	id, _, ok := strings.Cut(rest, ".")
	if !ok || len(id) != keyIDLen || !isLowerHex(id) {
		return ""
	}
	return id
}
